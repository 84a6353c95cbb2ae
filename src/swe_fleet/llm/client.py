"""The async client for OpenAI-compatible chat servers: retries, a concurrency limit, usage per call.

Transport failures (connection refused, 5xx, 429, timeouts) are retried with exponential backoff;
other 4xx answers are not (the same request would be refused again). Structured output is asked
for as `response_format: json_schema` (llama.cpp and vLLM turn it into a grammar); a server that
refuses that is remembered and asked for `json_object` instead, then for nothing, the caller
validating the answer either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from swe_fleet.llm import metrics
from swe_fleet.llm.completion import ChatMessage, Completion, StructuredOutput, ToolCallRequest
from swe_fleet.llm.config import LlmConfig
from swe_fleet.llm.errors import LlmRejected, LlmTimedOut, LlmUnavailable

log = logging.getLogger(__name__)

# Structured-output modes, strongest first; "auto" starts at the first and steps down on refusal.
MODES = ("json_schema", "json_object", "none")
_RETRYABLE_STATUS = {429, 500, 502, 503, 504}
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "grammar", "format")


class LlmClient:
    def __init__(self, config: LlmConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            headers=headers,
            timeout=httpx.Timeout(config.timeout_seconds, connect=min(5.0, config.timeout_seconds)),
            transport=transport,
            # One pooled connection per allowed request: a call never waits on the pool.
            limits=httpx.Limits(max_connections=config.concurrency + 4),
        )
        self._limit = asyncio.Semaphore(config.concurrency)
        mode = config.structured_output
        self._mode = "json_schema" if mode == "auto" else mode
        self._may_step_down = mode == "auto"
        self.in_flight = 0
        self.peak_in_flight = 0  # the most requests this client ever had in flight at once

    @property
    def output_mode(self) -> str:
        return self._mode

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ chat

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        role: str | None = None,
        output: StructuredOutput | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        """One chat completion; raises LlmUnavailable, LlmTimedOut or LlmRejected."""
        model = self.config.model_for(role)
        while True:
            mode = self._mode if output is not None else "none"
            body = self._body(messages, model, output, mode, max_tokens, temperature, extra)
            try:
                return await self._send(body, model, mode)
            except LlmRejected as error:
                if output is None or not self._step_down_from(mode, error):
                    raise

    async def chat(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        output: StructuredOutput | None = None,
        role: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """A completion over OpenAI-format messages (with `tool_calls` and `tool` turns), offering `tools`.

        The caller owns the conversation's shape; a server that refuses tools answers LlmRejected.
        """
        model = self.config.model_for(role)
        mode = "json_schema" if output is not None else "none"
        body: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "max_tokens": max_tokens or self.config.max_tokens,
            "stream": False,
        }
        if temperature is not None:
            body["temperature"] = temperature
        if tools:
            body["tools"] = list(tools)
            body["tool_choice"] = "auto"
        if output is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": output.name, "schema": output.schema, "strict": True},
            }
        return await self._send(body, model, mode)

    def _step_down_from(self, mode: str, error: LlmRejected) -> bool:
        """After the server refused `mode`, switch to the next weaker mode if allowed.

        Only a refusal that names the output format counts: a prompt too long for the context is
        a 400 too, and must not cost every later call its grammar.
        """
        if not self._may_step_down or mode == "none" or error.status not in (400, 422, 501):
            return False
        if not any(word in error.detail.lower() for word in _FORMAT_WORDS):
            return False
        weaker = MODES[MODES.index(mode) + 1]
        if self._mode == mode:
            log.warning("LLM server refused response_format %s (%s); using %s", mode, error.detail, weaker)
            self._mode = weaker
        return True

    def _body(
        self,
        messages: Sequence[ChatMessage],
        model: str,
        output: StructuredOutput | None,
        mode: str,
        max_tokens: int | None,
        temperature: float | None,
        extra: dict[str, Any] | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [message.as_dict() for message in messages],
            "max_tokens": max_tokens or self.config.max_tokens,
            "stream": False,
        }
        if temperature is not None:
            body["temperature"] = temperature
        if output is not None and mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": output.name, "schema": output.schema, "strict": True},
            }
        elif output is not None and mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        body.update(extra or {})
        return body

    async def _send(self, body: dict[str, Any], model: str, mode: str) -> Completion:
        retry = self.config.retry
        timing = _Timing()

        def announce(error: BaseException, _delay: float, attempt: int) -> None:
            metrics.REQUESTS.labels(model=model, outcome="retried").inc()
            shown = type(error).__name__ if isinstance(error, httpx.TimeoutException) else repr(error)
            log.warning("LLM %s attempt %d: %s", model, attempt, shown)

        try:
            async for attempt in retry.backoff.retrying(_retryable, before_sleep=announce):
                with attempt:
                    response = await self._post(body, model, timing)
                    number = attempt.retry_state.attempt_number
        except (httpx.TransportError, _HttpStatus) as error:
            raise self._gave_up(model, retry.max_attempts, error) from None
        assert timing.first_sent is not None and timing.started_at is not None
        latency_ms = (time.perf_counter() - timing.first_sent) * 1000
        return self._completion(
            response, model, mode, number, latency_ms, timing.queued_ms, timing.started_at
        )

    async def _post(self, body: dict[str, Any], model: str, timing: _Timing) -> httpx.Response:
        """One attempt: a retryable failure raises (transport error, `_HttpStatus`), a refusal too."""
        waited = time.perf_counter()
        async with self._limit:
            timing.queued_ms += (time.perf_counter() - waited) * 1000
            if timing.first_sent is None:
                timing.first_sent, timing.started_at = time.perf_counter(), datetime.now(UTC)
            with self._counting_in_flight():
                response = await self._http.post("/v1/chat/completions", json=body)
        if response.status_code in _RETRYABLE_STATUS:
            raise _HttpStatus(response.status_code, _detail(response))
        if response.status_code >= 400:
            metrics.REQUESTS.labels(model=model, outcome="rejected").inc()
            raise LlmRejected(response.status_code, _detail(response))
        return response

    def _completion(
        self,
        response: httpx.Response,
        model: str,
        mode: str,
        attempts: int,
        latency_ms: float,
        queued_ms: float,
        started_at: datetime,
    ) -> Completion:
        try:
            document = response.json()
            choice = document["choices"][0]
            content = choice["message"].get("content") or ""
            tool_calls = tuple(
                ToolCallRequest(
                    id=str(call.get("id") or f"call_{index}"),
                    name=str(call["function"]["name"]),
                    arguments=_arguments_text(call["function"].get("arguments")),
                )
                for index, call in enumerate(choice["message"].get("tool_calls") or ())
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            metrics.REQUESTS.labels(model=model, outcome="rejected").inc()
            raise LlmRejected(response.status_code, f"not a chat completion: {error!r}") from None
        usage = document.get("usage") or {}
        completion = Completion(
            content=content,
            model=str(document.get("model") or model),
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_ms=latency_ms,
            queued_ms=queued_ms,
            started_at=started_at,
            ended_at=datetime.now(UTC),
            attempts=attempts,
            output_mode=mode,
            tool_calls=tool_calls,
        )
        metrics.REQUESTS.labels(model=model, outcome="ok").inc()
        metrics.LATENCY.labels(model=model).observe(latency_ms / 1000)
        metrics.QUEUED.labels(model=model).observe(queued_ms / 1000)
        metrics.TOKENS.labels(model=model, direction="prompt").inc(completion.prompt_tokens)
        metrics.TOKENS.labels(model=model, direction="completion").inc(completion.completion_tokens)
        return completion

    def _gave_up(self, model: str, attempts: int, error: BaseException | None) -> Exception:
        where = self.config.base_url
        if isinstance(error, httpx.TimeoutException) and not isinstance(error, httpx.ConnectTimeout):
            metrics.REQUESTS.labels(model=model, outcome="timed_out").inc()
            return LlmTimedOut(
                f"LLM at {where} gave no answer within {self.config.timeout_seconds:.0f}s "
                f"on {attempts} attempts"
            )
        metrics.REQUESTS.labels(model=model, outcome="unavailable").inc()
        reason = (str(error) or type(error).__name__) if error is not None else "no attempt made"
        return LlmUnavailable(f"LLM at {where} unavailable after {attempts} attempts: {reason}")

    @contextlib.contextmanager
    def _counting_in_flight(self):
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        metrics.IN_FLIGHT.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            metrics.IN_FLIGHT.dec()

    # ------------------------------------------------------------------ server facts

    async def tokenize(self, text: str, *, within_seconds: float = 10.0) -> list[int] | None:
        """The server's own token ids for `text`, or None if it offers no tokenizer endpoint.

        llama.cpp answers POST /tokenize {"content"}; vLLM answers POST /tokenize {"model", "prompt"}.
        Raises LlmUnavailable when the server cannot be reached.
        """
        requests = (
            {"content": text, "add_special": False},
            {"model": self.config.default_model, "prompt": text, "add_special_tokens": False},
        )
        for body in requests:
            try:
                response = await self._http.post("/tokenize", json=body, timeout=within_seconds)
            except httpx.TransportError as error:
                raise LlmUnavailable(f"LLM at {self.config.base_url} unreachable: {error!r}") from None
            if response.status_code >= 500:
                raise LlmUnavailable(f"LLM tokenizer answered {response.status_code}")
            if response.status_code == 200:
                tokens = response.json().get("tokens")
                if isinstance(tokens, list):
                    return [
                        int(token) if not isinstance(token, dict) else int(token["id"]) for token in tokens
                    ]
        return None

    async def models(self, *, within_seconds: float = 5.0) -> list[str]:
        """The model ids the server serves (GET /v1/models); raises LlmUnavailable if unreachable."""
        try:
            response = await self._http.get("/v1/models", timeout=within_seconds)
        except httpx.TransportError as error:
            raise LlmUnavailable(f"LLM at {self.config.base_url} unreachable: {error!r}") from None
        if response.status_code != 200:
            raise LlmUnavailable(
                f"LLM at {self.config.base_url} answered {response.status_code} to /v1/models"
            )
        return [str(entry.get("id")) for entry in response.json().get("data", [])]


@dataclass
class _Timing:
    """Across the attempts of one call: time spent waiting for a slot, when the first request left."""

    queued_ms: float = 0.0
    first_sent: float | None = None
    started_at: datetime | None = None


def _retryable(error: BaseException) -> bool:
    return isinstance(error, httpx.TransportError | _HttpStatus)


class _HttpStatus(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


def _detail(response: httpx.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return response.text[:300]
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error or document)[:300]


def _arguments_text(arguments: Any) -> str:
    """Servers send a call's arguments as JSON text (OpenAI) or, some, as an object already."""
    if arguments is None:
        return "{}"
    return arguments if isinstance(arguments, str) else json.dumps(arguments)
