"""Servers the tests need but do not ship (PostgreSQL, a cache server): skip locally, fail in CI.

CI sets FLEET_REQUIRE_SERVICES=1 (.ci/run): a missing server is then a failure naming it, so a
green CI run cannot hide tests that never ran. On a developer's machine the test is skipped with
the same one line, naming the server and how to get it.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn
from urllib.parse import urlparse

import pytest

REQUIRE_ENV = "FLEET_REQUIRE_SERVICES"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}


def missing(server: str, reason: str) -> NoReturn:
    """Fail (CI) or skip (locally) because `server` is not there; `reason` says what was tried."""
    message = f"{server} missing: {reason}"
    if required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1: this server is required)", pytrace=False)
    pytest.skip(message)


def require_cache_binary() -> str:
    from swe_fleet.embedded.valkey_server import find_cache_server

    binary = find_cache_server()
    if binary is None:
        missing("cache server", "no valkey-server or redis-server on PATH (apt-get install redis-server)")
    return binary


def require_tcp(server: str, url: str) -> None:
    """The server at `url` accepts a TCP connection."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port
    try:
        with socket.create_connection((host, port or 0), timeout=2):
            return
    except OSError as error:
        missing(server, f"nothing answers at {host}:{port} ({error})")
