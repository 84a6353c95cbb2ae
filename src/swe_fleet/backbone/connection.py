"""Connecting to NATS with settings fit for a long-running service."""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client as NATS

log = logging.getLogger(__name__)


class NatsUnavailable(Exception):
    """NATS could not be reached at all."""


async def connect(url: str, name: str, *, wait_seconds: float = 0.0, connect_timeout: float = 2.0) -> NATS:
    """Connect, reconnecting forever once connected (nats-py's default gives up after ~2 minutes).

    `wait_seconds` > 0 keeps retrying the first connection that long (a service starting beside
    its server); 0 fails at once (a CLI command must answer with one clear line).
    """

    async def on_error(error: Exception) -> None:
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
            ),
            timeout=max(wait_seconds, connect_timeout),
        )
    except Exception as error:  # nats raises several unrelated types here
        reason = (
            "no server answered"
            if isinstance(error, asyncio.TimeoutError)
            else (str(error) or type(error).__name__)
        )
        raise NatsUnavailable(f"cannot connect to NATS at {url}: {reason}") from None
    client.append(connection)
    return connection
