"""Tokens for tests and chaos runs: minted by the fleet's own issuer under a data directory.

The processes under test create that issuer's key on first start (or find the one minted here
first): both sides read `<data dir>/auth/issuer.key`, exactly as the embedded fleet does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from swe_fleet.security.identity import Role
from swe_fleet.security.tokens import LocalIssuer

PO = "product-owner"


def token_for(
    data_dir: Path,
    subject: str = PO,
    roles: Iterable[Role] = (Role.PRODUCT_OWNER,),
    ttl: timedelta = timedelta(hours=6),
) -> str:
    return LocalIssuer(Path(data_dir) / "auth").issue(subject, roles, ttl)


def bearer(
    data_dir: Path, subject: str = PO, roles: Iterable[Role] = (Role.PRODUCT_OWNER,)
) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(data_dir, subject, roles)}"}
