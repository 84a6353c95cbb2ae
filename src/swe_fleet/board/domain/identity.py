"""Who is looking at the board and what they may do: a viewer sees, only a Product Owner changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BoardRole(StrEnum):
    VIEWER = "viewer"
    PRODUCT_OWNER = "product_owner"
    SERVICE = "service"


@dataclass(frozen=True)
class Identity:
    name: str
    role: BoardRole
    # The bearer token the person signed in with: it goes with every API call made for them.
    token: str = field(default="", repr=False, compare=False)

    @property
    def may_change(self) -> bool:
        return self.role is BoardRole.PRODUCT_OWNER


class NotSignedIn(Exception):
    """No valid session: the board sends the person to the sign-in page."""


class NotAllowed(Exception):
    """The signed-in identity's role may not do this (a viewer trying a change)."""

    def __init__(self, identity: Identity, action: str) -> None:
        super().__init__(
            f"{identity.name} is signed in as {identity.role.value}: only a product owner may {action}"
        )
