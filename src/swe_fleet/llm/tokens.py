"""Exact token counts from the LLM server's own tokenizer, for the Context service's token budgets.

    counter = TokenCounter(client)
    n = await counter.count(text)   # an int, or None: no tokenizer endpoint, or the server is down

None tells the caller to use its own estimate (one that errs high). Counts are cached by text, so
ranking and cutting the same sections again costs no round trip.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict

from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.errors import LlmUnavailable

log = logging.getLogger(__name__)


class TokenCounter:
    def __init__(self, client: LlmClient, *, cache_size: int = 8192, timeout: float = 5.0) -> None:
        self._client = client
        self._cache: OrderedDict[bytes, int] = OrderedDict()
        self._cache_size = cache_size
        self._timeout = timeout
        self._supported: bool | None = None  # unknown until the server first answers

    @property
    def exact(self) -> bool | None:
        """True once the server has tokenized something; False if it has no tokenizer endpoint."""
        return self._supported

    async def count(self, text: str) -> int | None:
        if not text:
            return 0
        if self._supported is False:
            return None
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        try:
            tokens = await self._client.tokenize(text, within_seconds=self._timeout)
        except LlmUnavailable as error:
            log.debug("token count falls back to an estimate: %s", error)
            return None
        if tokens is None:
            log.info("the LLM server offers no tokenizer endpoint: token counts are estimates")
            self._supported = False
            return None
        self._supported = True
        self._cache[key] = len(tokens)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return len(tokens)
