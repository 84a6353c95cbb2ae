"""The client's retry, fallback, limit and usage logic against an in-process fake server (MockTransport)."""

import asyncio
import json

import httpx
import pytest

from swe_fleet.errors import TransientError
from swe_fleet.llm import ChatMessage, LlmClient, LlmConfig, LlmRejected, LlmTimedOut, LlmUnavailable
from swe_fleet.llm.completion import StructuredOutput
from swe_fleet.llm.config import RetryPolicy

MESSAGES = [ChatMessage("user", "hi")]
SCHEMA = StructuredOutput("Answer", {"type": "object", "properties": {"a": {"type": "string"}}})


def answer(content='{"a": "b"}', finish_reason="stop"):
    return httpx.Response(
        200,
        json={
            "model": "served-model",
            "choices": [
                {"message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5},
        },
    )


class FakeServer:
    """Answers with the scripted responses (or raises the scripted httpx errors), recording requests."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        return item(request) if callable(item) else item

    def body(self, index=-1):
        return json.loads(self.requests[index].content)


def client(server, **config):
    settings = {
        "base_url": "http://llm.test",
        "retry": RetryPolicy(max_attempts=3, first_delay=0.001),
        **config,
    }
    return LlmClient(LlmConfig(**settings), transport=httpx.MockTransport(server))


async def test_a_completion_carries_content_usage_and_timing():
    server = FakeServer(answer())
    completion = await client(server).complete(MESSAGES, max_tokens=50, temperature=0.3)
    assert completion.content == '{"a": "b"}' and completion.model == "served-model"
    assert (completion.prompt_tokens, completion.completion_tokens, completion.attempts) == (12, 5, 1)
    assert completion.latency_ms >= 0 and completion.started_at <= completion.ended_at
    assert not completion.truncated
    body = server.body()
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert (body["max_tokens"], body["temperature"], body["stream"]) == (50, 0.3, False)
    assert "response_format" not in body


async def test_structured_output_is_asked_as_a_strict_json_schema():
    server = FakeServer(answer())
    await client(server).complete(MESSAGES, output=SCHEMA)
    assert server.body()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": SCHEMA.schema, "strict": True},
    }


async def test_a_server_refusing_json_schema_is_asked_for_json_object_from_then_on():
    server = FakeServer(
        httpx.Response(400, json={"error": {"message": "response_format json_schema unsupported"}}), answer()
    )
    llm = client(server)
    completion = await llm.complete(MESSAGES, output=SCHEMA)
    assert completion.output_mode == "json_object" and llm.output_mode == "json_object"
    assert server.body(1)["response_format"] == {"type": "json_object"}
    await llm.complete(MESSAGES, output=SCHEMA)
    assert server.body()["response_format"] == {"type": "json_object"} and len(server.requests) == 3


async def test_a_server_refusing_any_response_format_is_asked_plainly():
    refusal = httpx.Response(400, text="unsupported response_format")
    server = FakeServer(refusal, httpx.Response(422, text="unknown format json_object"), answer())
    completion = await client(server).complete(MESSAGES, output=SCHEMA)
    assert completion.output_mode == "none" and "response_format" not in server.body()


async def test_a_fixed_mode_is_not_stepped_down():
    server = FakeServer(httpx.Response(400, text="bad schema"))
    with pytest.raises(LlmRejected, match="refused the request \\(400\\): bad schema"):
        await client(server, structured_output="json_schema").complete(MESSAGES, output=SCHEMA)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_overload_and_server_errors_are_retried(status):
    server = FakeServer(httpx.Response(status, text="busy"), answer())
    completion = await client(server).complete(MESSAGES)
    assert completion.attempts == 2 and len(server.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 413])
async def test_other_client_errors_are_not_retried(status):
    server = FakeServer(httpx.Response(status, json={"error": {"message": "nope"}}))
    with pytest.raises(LlmRejected) as raised:
        await client(server).complete(MESSAGES)
    assert raised.value.status == status and len(server.requests) == 1


async def test_connection_errors_are_retried_then_reported_as_a_transient_error():
    server = FakeServer(httpx.ConnectError("refused"))
    with pytest.raises(LlmUnavailable, match="unavailable after 3 attempts: refused") as raised:
        await client(server).complete(MESSAGES)
    assert isinstance(raised.value, TransientError) and len(server.requests) == 3


async def test_a_server_that_comes_back_is_used():
    server = FakeServer(httpx.ConnectError("refused"), httpx.ConnectError("refused"), answer())
    assert (await client(server).complete(MESSAGES)).attempts == 3


async def test_read_timeouts_are_retried_then_reported_as_timed_out_not_unavailable():
    server = FakeServer(httpx.ReadTimeout("slow"))
    with pytest.raises(LlmTimedOut) as raised:
        await client(server).complete(MESSAGES)
    assert not isinstance(raised.value, TransientError) and len(server.requests) == 3


async def test_a_connect_timeout_means_unavailable():
    with pytest.raises(LlmUnavailable):
        await client(FakeServer(httpx.ConnectTimeout("no route"))).complete(MESSAGES)


async def test_an_answer_that_is_not_a_completion_is_refused():
    with pytest.raises(LlmRejected, match="not a chat completion"):
        await client(FakeServer(httpx.Response(200, json={"choices": []}))).complete(MESSAGES)


async def test_a_truncated_answer_is_flagged():
    completion = await client(FakeServer(answer('{"a": "b', "length"))).complete(MESSAGES)
    assert completion.truncated


async def test_the_concurrency_limit_bounds_requests_in_flight():
    in_flight = peak = 0

    async def slow(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return answer()

    llm = LlmClient(LlmConfig(base_url="http://llm.test", concurrency=2), transport=httpx.MockTransport(slow))
    completions = await asyncio.gather(*(llm.complete(MESSAGES) for _ in range(6)))
    assert peak == 2 and llm.peak_in_flight == 2
    assert max(c.queued_ms for c in completions) > 0


def test_the_model_is_chosen_per_role():
    config = LlmConfig(base_url="http://x", default_model="small", models_by_role={"ARCHITECT": "big"})
    assert config.model_for("ARCHITECT") == "big"
    assert config.model_for("DEV") == "small" and config.model_for(None) == "small"


async def test_the_roles_model_is_sent():
    server = FakeServer(answer())
    llm = client(server, default_model="small", models_by_role={"QA": "tester"})
    await llm.complete(MESSAGES, role="QA")
    assert server.body()["model"] == "tester"


def test_backoff_doubles_up_to_its_cap():
    policy = RetryPolicy(max_attempts=6, first_delay=0.5, max_delay=3)
    assert [policy.delay_before(n) for n in range(2, 7)] == [0.5, 1.0, 2.0, 3, 3]


async def test_tokenize_speaks_llama_cpp_and_vllm():
    llama = FakeServer(httpx.Response(200, json={"tokens": [5, 6, 7]}))
    assert await client(llama).tokenize("abc") == [5, 6, 7]
    assert json.loads(llama.requests[0].content) == {"content": "abc", "add_special": False}
    vllm = FakeServer(
        httpx.Response(400, text="unknown field content"),
        httpx.Response(200, json={"count": 2, "tokens": [1, 2]}),
    )
    assert await client(vllm).tokenize("ab") == [1, 2]
    assert json.loads(vllm.requests[1].content)["prompt"] == "ab"


async def test_a_refusal_unrelated_to_the_output_format_keeps_the_grammar():
    server = FakeServer(
        httpx.Response(400, json={"error": {"message": "the request exceeds the context size"}})
    )
    llm = client(server)
    with pytest.raises(LlmRejected, match="exceeds the context size"):
        await llm.complete(MESSAGES, output=SCHEMA)
    assert llm.output_mode == "json_schema" and len(server.requests) == 1
