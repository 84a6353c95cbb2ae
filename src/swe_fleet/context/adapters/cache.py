"""The Valkey cache of assembled context packs.

Keys carry the story's context version, so a graph change for the story (which bumps the version in
the same transaction as the writes) makes every older entry unreachable: nothing is ever deleted or
invalidated by hand, stale entries simply age out (TTL, and the server's LRU eviction).

The cache is optional to correctness: any Valkey error is a miss, the service answers uncached, and
the readiness check says `degraded`. After a failure the cache is skipped for a short while (a
circuit breaker) so that a dead Valkey does not add its timeout to every request.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from swe_fleet.context import metrics
from swe_fleet.context.app.cache_keys import KEY_PREFIX, cache_key
from swe_fleet.context.domain.model import ContextPack

__all__ = ["KEY_PREFIX", "ValkeyContextCache", "cache_key"]

log = logging.getLogger(__name__)


class ValkeyContextCache:
    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: int = 3600,
        timeout_seconds: float = 0.25,
        open_seconds: float = 5.0,
    ) -> None:
        import valkey.asyncio as valkey

        self.url = url
        self._ttl = ttl_seconds
        self._client = valkey.Valkey.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        self._open_seconds = open_seconds
        self._skip_until = 0.0
        self.last_error: str | None = None

    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, operation: str, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        self._skip_until = time.monotonic() + self._open_seconds
        metrics.CACHE_OPERATIONS.labels(operation, "error").inc()
        log.warning(
            "context cache %s failed (%s); answering uncached for %.0fs", operation, error, self._open_seconds
        )

    async def get(self, key: str) -> ContextPack | None:
        if not self._available():
            metrics.CACHE_OPERATIONS.labels("get", "skipped").inc()
            return None
        try:
            raw = await self._client.get(key)
        except Exception as error:  # any failure of the cache is a miss
            self._failed("get", error)
            return None
        self.last_error = None
        if raw is None:
            metrics.CACHE_OPERATIONS.labels("get", "miss").inc()
            return None
        metrics.CACHE_OPERATIONS.labels("get", "hit").inc()
        try:
            return ContextPack.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            return None  # an entry written by another version of the service: treat as a miss

    async def set(self, key: str, pack: ContextPack) -> None:
        if not self._available():
            return
        document: dict[str, Any] = pack.as_dict()
        try:
            await self._client.set(key, json.dumps(document, separators=(",", ":")), ex=self._ttl)
        except Exception as error:
            self._failed("set", error)
            return
        metrics.CACHE_OPERATIONS.labels("set", "ok").inc()

    async def ping(self) -> None:
        """Raise if Valkey does not answer (the readiness check; it ignores the circuit breaker)."""
        await self._client.ping()
        self.last_error = None
        self._skip_until = 0.0

    async def close(self) -> None:
        await self._client.aclose()
