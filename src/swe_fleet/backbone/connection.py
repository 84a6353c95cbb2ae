"""Connecting to NATS with settings fit for a long-running service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import nats
from nats.aio.client import Client as NATS

log = logging.getLogger(__name__)


class NatsUnavailable(Exception):
    """NATS could not be reached at all."""


async def connect(
    url: str,
    name: str,
    *,
    wait_seconds: float = 0.0,
    connect_timeout: float = 2.0,
    options: Mapping[str, Any] | None = None,
) -> NATS:
    """Connect, reconnecting forever once connected (nats-py's default gives up after ~2 minutes).

    `wait_seconds` > 0 keeps retrying the first connection that long (a service starting beside
    its server); 0 fails at once (a CLI command must answer with one clear line). `options` are
    the identity's (user, password, TLS context, inbox prefix: `security.nats_auth.client_options`).
    """

    errors: list[Exception] = []

    async def on_error(error: Exception) -> None:
        errors[:] = [error]  # the last one says why a first connection keeps failing
        log.debug("nats %s: %s", name, error)

    client: list[NATS] = []

    async def on_disconnected() -> None:
        if client and not (client[0].is_closed or client[0].is_draining):  # a close is not news
            log.warning("nats %s: disconnected from %s", name, url)

    async def on_reconnected() -> None:
        log.info("nats %s: reconnected to %s", name, url)

    # nats-py retries the first connection forever when reconnects are unlimited: bound it ourselves.
    try:
        connection = await asyncio.wait_for(
            nats.connect(
                servers=[server.strip() for server in url.split(",") if server.strip()],  # a cluster
                name=name,
                connect_timeout=connect_timeout,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                **(options or {}),
            ),
            timeout=max(wait_seconds, connect_timeout),
        )
    except Exception as error:  # nats raises several unrelated types here
        reason = (
            "no server answered"
            if isinstance(error, asyncio.TimeoutError) and not errors
            else (str(errors[-1] if errors else error) or type(error).__name__)
        )
        if "authorization" in reason.lower():
            reason += " (this identity's NATS credentials are missing or wrong: see `fleet nats-config`)"
        raise NatsUnavailable(f"cannot connect to NATS at {url}: {reason}") from None
    client.append(connection)
    return connection
