"""Fetching an agent's surgical context from the Context service's HTTP API.

    GET {context_url}/v1/context/stories/{story_id}?role=&phase=&task_id=&token_budget=
    -> {version, token_count, blocks: {system, context, tools}, sections_included, sections_cut, ...}

Connection errors, timeouts and 5xx are retried a bounded number of times with backoff; then the
outcome says the service was unreachable, and the worker's context policy decides: answer without
context (the response says why, `context_error`) or hold the command until Context is back. A 4xx
(unknown story, a role or phase the scope policy refuses) is not retried: the same request would get
the same answer.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from swe_fleet.agents.domain.context_pack import ContextOutcome, ContextPack
from swe_fleet.retrying import Backoff

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class _Unavailable(Exception):
    """The Context service could not answer this time (unreachable, 429 or 5xx)."""


class _NotYetProjected(_Unavailable):
    """The Context service does not hold the story (yet): its projection may lag the command."""


class HttpContextSource:
    def __init__(
        self,
        base_url: str,
        *,
        attempts: int = 3,
        first_delay: float = 0.5,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._attempts = max(1, attempts)
        self._backoff = Backoff(first=first_delay, maximum=max(first_delay, 8.0), attempts=self._attempts)
        headers = {"Authorization": f"Bearer {token}"} if token else None  # the worker's service identity
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, headers=headers
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch(
        self, *, story_id: str, role: str, phase: str, task_id: str | None, token_budget: int
    ) -> ContextOutcome:
        params: dict[str, Any] = {"role": role, "token_budget": token_budget}
        if phase:
            params["phase"] = phase
        if task_id:
            params["task_id"] = task_id
        path = f"/v1/context/stories/{quote(story_id, safe='')}"
        try:
            async for attempt in self._backoff.retrying(_Unavailable):
                with attempt:
                    response = await self._get(path, params)
        except _NotYetProjected as error:
            log.warning("context for story %s: %s after %d attempts", story_id, error, self._attempts)
            return ContextOutcome(None, f"{error} after {self._attempts} attempts", transient=True)
        except _Unavailable as error:
            log.warning("context for story %s: %s after %d attempts", story_id, error, self._attempts)
            return ContextOutcome(None, f"{error} after {self._attempts} attempts", reachable=False)
        if response.status_code >= 400:
            return ContextOutcome(
                None, f"Context service refused ({response.status_code}): {_detail(response)}"
            )
        try:
            return ContextOutcome(read_pack(response.json()))
        except (ValueError, TypeError, AttributeError) as error:
            return ContextOutcome(None, f"Context service answered an unreadable context: {error}")

    async def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        """One attempt; `_Unavailable` when another attempt may get a different answer."""
        try:
            response = await self._http.get(path, params=params)
        except httpx.TransportError as error:
            raise _Unavailable(
                f"Context service unreachable at {self.base_url} ({type(error).__name__})"
            ) from error
        if response.status_code in _RETRYABLE_STATUS:
            raise _Unavailable(f"Context service answered {response.status_code}")
        if response.status_code == 404:
            raise _NotYetProjected(f"Context service refused (404): {_detail(response)}")
        return response

    async def reachable(self) -> tuple[bool, str]:
        try:
            response = await self._http.get("/healthz", timeout=3.0)
        except httpx.TransportError as error:
            return False, f"unreachable at {self.base_url}: {type(error).__name__}"
        return response.status_code == 200, f"{self.base_url} answered {response.status_code}"


def read_pack(document: dict[str, Any]) -> ContextPack:
    blocks = document.get("blocks") or {}
    if not isinstance(blocks, dict):
        raise ValueError("'blocks' is not an object")
    version = document.get("version")
    token_count = document.get("token_count")
    return ContextPack(
        system=_block_text(blocks.get("system")),
        context=_block_text(blocks.get("context")),
        tools=_block_text(blocks.get("tools")),
        version=None if version is None else str(version),
        token_count=int(token_count) if token_count is not None else None,
        sections_cut=tuple(str(section) for section in document.get("sections_cut") or ()),
    )


def _block_text(block: Any) -> str:
    """A block as prompt text: a string, or a list of strings or of {"title", "text"|"content"}."""
    if block is None:
        return ""
    if isinstance(block, str):
        return block
    if isinstance(block, list):
        return "\n\n".join(filter(None, (_block_text(item) for item in block)))
    if isinstance(block, dict):
        body = str(block.get("text") or block.get("content") or "")
        title = str(block.get("title") or "")
        return f"{title}\n{body}".strip() if title else body
    return str(block)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))[:300]
    except (ValueError, AttributeError):
        return response.text[:300]
