"""The bearer token a client of the HTTP API sends: the CLI (the PO's) or a service (its own).

FLEET_TOKEN, else the file FLEET_TOKEN_FILE, else the embedded fleet's token file under
`<data dir>/auth/` (`po.token` for the CLI, `service.token` for services), else none (the API then
answers 401 and the client says where a token comes from).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swe_fleet.security.secret_files import read_secret

PO_TOKEN_FILE = "po.token"
SERVICE_TOKEN_FILE = "service.token"
WHERE = "set FLEET_TOKEN or FLEET_TOKEN_FILE (the embedded fleet keeps one in <data dir>/auth/po.token)"


def client_token(settings: Any, *, default_file: str = PO_TOKEN_FILE) -> str | None:
    if settings.token:
        return str(settings.token).strip()
    if settings.token_file is not None:
        return read_secret(Path(settings.token_file))
    fallback = Path(settings.data_dir) / "auth" / default_file
    return read_secret(fallback) if fallback.exists() else None


def bearer_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
