"""The LLM server's tokenizer endpoint (llama.cpp `POST /tokenize`), as a transport for `swe_fleet.tokens`.

Used when the configured LLM server offers it (probed at start-up); otherwise counts come from the
documented estimate. Calls block (the Context service's assembler is synchronous), so callers run
counting in a worker thread when this tokenizer is in use. Counting and caching are in
`swe_fleet.tokens.TokenizerCounter`; this module only speaks HTTP.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from swe_fleet.tokens import EstimatingCounter, TokenCounter, TokenizerCounter

log = logging.getLogger(__name__)


def tokenizer_base_url(llm_url: str) -> str:
    """llama.cpp serves /tokenize at its root, beside the OpenAI-compatible /v1."""
    base = llm_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class LlamaCppTokenize:
    """`tokenize(text, with_pieces)` over HTTP; without pieces, a list of ids."""

    def __init__(self, llm_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = tokenizer_base_url(llm_url)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def __call__(self, text: str, pieces: bool = False) -> list[Any]:
        response = self._http.post(
            "/tokenize", json={"content": text, "add_special": False, "with_pieces": pieces}
        )
        response.raise_for_status()
        return response.json()["tokens"]

    def probe(self) -> bool:
        try:
            return len(self("hello world")) > 0
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as error:
            log.info("no tokenizer at %s/tokenize (%s); counting with the estimate", self.base_url, error)
            return False

    def close(self) -> None:
        self._http.close()


def llama_cpp_counter(llm_url: str, *, cache_size: int = 4096) -> TokenizerCounter | None:
    """The server's own counter, or None when it has no tokenizer (blocking: call in a thread)."""
    transport = LlamaCppTokenize(llm_url)
    if transport.probe():
        return TokenizerCounter("llama.cpp", transport, cache_size=cache_size)
    transport.close()
    return None


def choose_counter(llm_url: str | None) -> TokenCounter:
    """The LLM server's tokenizer if it offers one, else the estimate (blocking: call in a thread)."""
    counter = llama_cpp_counter(llm_url) if llm_url else None
    return counter if counter is not None else EstimatingCounter()
