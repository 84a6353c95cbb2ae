"""The authenticated caller of the HTTP API: a subject and its roles (no infrastructure here)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # reads stories, plans, decisions, context
    PRODUCT_OWNER = "product_owner"  # every planning change: stories, transitions, plan and decision verdicts
    SERVICE = "service"  # a fleet process: reads context and the graph, proposes decisions


# A role grants the roles it implies: a product owner and a service can read what a viewer reads.
IMPLIES: dict[Role, frozenset[Role]] = {
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.PRODUCT_OWNER: frozenset({Role.PRODUCT_OWNER, Role.VIEWER}),
    Role.SERVICE: frozenset({Role.SERVICE, Role.VIEWER}),
}


@dataclass(frozen=True)
class Identity:
    """Who made a request: `subject` is recorded as the actor of every change it makes."""

    subject: str
    roles: frozenset[Role]
    issuer: str = ""

    def has(self, role: Role) -> bool:
        return any(role in IMPLIES[held] for held in self.roles)

    def has_any(self, roles: tuple[Role, ...]) -> bool:
        return any(self.has(role) for role in roles)
