"""Sign-in sessions and CSRF tokens for the board's pages.

A session is the person's bearer token in an HttpOnly, SameSite=Strict cookie: the page's scripts
cannot read it and other sites cannot send it. Every change also carries a CSRF token derived from
the session (HMAC of the token), in a hidden field or the `X-CSRF-Token` header; a change without the
right one is refused with 403 before anything else happens.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from swe_fleet.board.app.ports import Authenticator
from swe_fleet.board.domain.identity import BoardRole, Identity, NotSignedIn
from swe_fleet.security.api_auth import HttpAuth
from swe_fleet.security.identity import Identity as ApiIdentity
from swe_fleet.security.identity import Role
from swe_fleet.security.tokens import TokenRefused

SESSION_COOKIE = "fleet_board_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"swe-fleet-board-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(session_token), presented or "")


async def signed_in(request: Request, authenticator: Authenticator) -> Identity:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotSignedIn()
    identity = await authenticator.identify(token)
    if identity is None:
        raise NotSignedIn()
    return Identity(identity.name, identity.role, token=token)


class ApiTokens:
    """Sign-in with the API's own bearer tokens: verified by the same verifier the API uses
    (`security.api_auth.HttpAuth`: the fleet's issuer or the configured OIDC provider)."""

    def __init__(self, auth: HttpAuth) -> None:
        self._auth = auth

    async def identify(self, token: str) -> Identity | None:
        try:
            verified = await self._auth.identify(token)
        except TokenRefused:
            return None
        return Identity(verified.subject, board_role(verified))


def board_role(identity: ApiIdentity) -> BoardRole:
    """The board's one role for an API identity: a product owner changes, anyone else only sees."""
    if identity.has(Role.PRODUCT_OWNER):
        return BoardRole.PRODUCT_OWNER
    if identity.has(Role.SERVICE):
        return BoardRole.SERVICE
    return BoardRole.VIEWER
