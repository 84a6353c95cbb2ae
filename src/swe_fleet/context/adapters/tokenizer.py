"""The model's own tokenizer, through the LLM server's `POST /tokenize` (llama.cpp server).

Used when the configured LLM server offers it (probed at start-up); otherwise the service counts
with the documented estimate. Calls block (the assembler is synchronous), so the service runs the
assembly in a worker thread when this counter is in use. Counts are cached by text.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence

import httpx

from swe_fleet.context.domain.tokens import EstimatingCounter, TokenCounter

log = logging.getLogger(__name__)


def tokenizer_base_url(llm_url: str) -> str:
    """llama.cpp serves /tokenize at its root, beside the OpenAI-compatible /v1."""
    base = llm_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class LlamaCppTokenizer:
    name = "llama.cpp"

    def __init__(self, llm_url: str, *, timeout: float = 5.0, cache_size: int = 4096) -> None:
        self.base_url = tokenizer_base_url(llm_url)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size

    def _tokenize(self, text: str, *, pieces: bool = False) -> list:
        response = self._http.post(
            "/tokenize", json={"content": text, "add_special": False, "with_pieces": pieces}
        )
        response.raise_for_status()
        return response.json()["tokens"]

    def count(self, text: str) -> int:
        if not text:
            return 0
        key = hashlib.sha1(text.encode()).hexdigest()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = len(self._tokenize(text))
        self._cache[key] = value
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return value

    def count_lines(self, lines: Sequence[str]) -> list[int]:
        """One call for all lines: each token is attributed to the line where its text starts."""
        if not lines:
            return []
        text = "\n".join(lines)
        starts, offset = [], 0
        for text_line in lines:
            starts.append(offset)
            offset += len(text_line) + 1
        counts = [0] * len(lines)
        line, position = 0, 0
        for token in self._tokenize(text, pieces=True):
            piece = token.get("piece", "") if isinstance(token, dict) else ""
            while line + 1 < len(lines) and position >= starts[line + 1]:
                line += 1
            counts[line] += 1
            position += len(piece) if isinstance(piece, str) else 1
        return counts

    def probe(self) -> bool:
        try:
            return len(self._tokenize("hello world")) > 0
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as error:
            log.info(
                "context: no tokenizer at %s/tokenize (%s); counting with the estimate", self.base_url, error
            )
            return False

    def close(self) -> None:
        self._http.close()


def choose_counter(llm_url: str | None) -> TokenCounter:
    """The LLM server's tokenizer if it offers one, else the estimate (blocking: call in a thread)."""
    if llm_url:
        tokenizer = LlamaCppTokenizer(llm_url)
        if tokenizer.probe():
            return tokenizer
        tokenizer.close()
    return EstimatingCounter()
