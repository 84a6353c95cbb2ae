"""Sign-in sessions and CSRF tokens for the board's pages.

A session is the person's bearer token in an HttpOnly, SameSite=Strict cookie: the page's scripts
cannot read it and other sites cannot send it. Every change also carries a CSRF token derived from
the session (HMAC of the token), in a hidden field or the `X-CSRF-Token` header; a change without the
right one is refused with 403 before anything else happens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from fastapi import Request

from swe_fleet.board.app.ports import Authenticator
from swe_fleet.board.domain.identity import BoardRole, Identity, NotSignedIn

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


class TokenTable:
    """Tokens known to this board, each standing for an identity (until the API's own auth verifies them).

    `for_data_dir` keeps them in `<data dir>/board-tokens.json` (mode 0600), created on first start
    with one product owner and one viewer token; the file's path is shown, never its tokens.
    """

    def __init__(self, tokens: dict[str, Identity]) -> None:
        self._tokens = dict(tokens)

    async def identify(self, token: str) -> Identity | None:
        for known, identity in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return identity
        return None

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> TokenTable:
        path = data_dir / "board-tokens.json"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            entries = [
                {
                    "token": secrets.token_urlsafe(32),
                    "name": "product-owner",
                    "role": BoardRole.PRODUCT_OWNER,
                },
                {"token": secrets.token_urlsafe(32), "name": "viewer", "role": BoardRole.VIEWER},
            ]
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                json.dump(entries, file, indent=2)
        entries = json.loads(path.read_text())
        return cls({e["token"]: Identity(e["name"], BoardRole(e["role"])) for e in entries})
