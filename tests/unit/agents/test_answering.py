import pytest

from swe_fleet.agents.app.answering import CommandAnswerer, ContextUnavailable
from swe_fleet.agents.domain.context_pack import ContextOutcome, ContextPolicy
from swe_fleet.events.agent_protocol import LLM_KINDS, OUTPUT_MODEL_FOR_KIND, CommandKind
from swe_fleet.events.payloads import AgentCommand, AgentResponseCompleted, AgentResponseFailed
from swe_fleet.llm.errors import LlmRejected, LlmTimedOut, LlmUnavailable
from tests.unit.agents.fakes import FixedContext, ScriptedLlm, completion
from tests.unit.agents.samples import GOOD_ANSWERS, INPUTS, PROPOSAL


def command(kind=CommandKind.GENERATE, **changes):
    fields = {
        "command_id": f"cmd-{kind.value}",
        "kind": kind.value,
        "story_id": "story-1",
        "task_id": "task-1",
        "deliberation_id": "delib-1",
        "role": "DEV",
        "agent_id": "dev-1",
        "phase": "IN_PROGRESS",
        "inputs": INPUTS.get(kind, {}),
        "token_budget": 1500,
    }
    return AgentCommand(**{**fields, **changes})


def answerer(script, context=None, attempts=3):
    llm = ScriptedLlm(list(script))
    return CommandAnswerer(
        llm, context or FixedContext(), worker_id="worker-a", answer_attempts=attempts
    ), llm


@pytest.mark.parametrize("kind", LLM_KINDS)
async def test_a_valid_answer_completes_with_output_usage_and_context_version(kind):
    agent, llm = answerer([GOOD_ANSWERS[kind]])
    response = await agent.answer(command(kind))
    assert isinstance(response, AgentResponseCompleted)
    OUTPUT_MODEL_FOR_KIND[kind].model_validate(response.output)
    assert (response.command_id, response.agent_id, response.worker_id) == (
        f"cmd-{kind.value}",
        "dev-1",
        "worker-a",
    )
    assert response.context_version == "9" and response.context_error is None
    assert response.usage.model == "fake-model" and response.usage.attempts == 1
    assert response.usage.started_at is not None and response.usage.ended_at is not None
    assert llm.calls[0]["output"].schema["type"] == "object"
    assert llm.calls[0]["role"] == "DEV"


async def test_the_context_is_asked_for_the_commands_story_role_phase_task_and_budget():
    context = FixedContext()
    agent, _ = answerer([PROPOSAL], context)
    await agent.answer(command())
    assert context.requests == [
        {
            "story_id": "story-1",
            "role": "DEV",
            "phase": "IN_PROGRESS",
            "task_id": "task-1",
            "token_budget": 1500,
        }
    ]


async def test_an_invalid_answer_is_repaired_with_the_problem_sent_back():
    agent, llm = answerer([{**PROPOSAL, "steps": []}, PROPOSAL])
    response = await agent.answer(command())
    assert isinstance(response, AgentResponseCompleted)
    assert response.usage.attempts == 2 and response.usage.prompt_tokens == 200
    repair = llm.calls[1]["messages"]
    assert [m.role for m in repair] == ["system", "user", "assistant", "user"]
    assert '"steps": []' in repair[2].content
    assert "steps: List should have at least 1 item" in repair[3].content
    assert repair[:2] == llm.calls[0]["messages"]


async def test_a_truncated_answer_is_not_echoed_back_but_asked_again_shorter():
    agent, llm = answerer([completion('{"summary": "long...', finish_reason="length"), PROPOSAL])
    response = await agent.answer(command())
    assert isinstance(response, AgentResponseCompleted)
    repair = llm.calls[1]["messages"]
    assert [m.role for m in repair] == ["system", "user", "user"]
    assert "cut off" in repair[2].content


async def test_repairs_start_from_the_first_prompt_every_time():
    agent, llm = answerer(["nonsense", "more nonsense", PROPOSAL])
    await agent.answer(command())
    assert len(llm.calls[2]["messages"]) == 4
    assert llm.calls[2]["messages"][2].content == "more nonsense"


async def test_no_valid_answer_within_the_attempts_is_a_failed_response_saying_why():
    agent, llm = answerer(["not json"], attempts=2)
    response = await agent.answer(command())
    assert isinstance(response, AgentResponseFailed)
    assert response.attempts == 2 and len(llm.calls) == 2
    assert response.error.startswith(
        "no valid generate answer after 2 attempts: the answer is not a complete JSON"
    )
    assert response.usage is not None and response.usage.attempts == 2


async def test_unusable_inputs_fail_at_once_without_calling_the_llm():
    agent, llm = answerer([PROPOSAL])
    response = await agent.answer(
        command(CommandKind.CRITIQUE, inputs={"task": INPUTS[CommandKind.GENERATE]["task"]})
    )
    assert isinstance(response, AgentResponseFailed)
    assert response.attempts == 0 and "inputs.proposal" in response.error and response.usage is None
    assert llm.calls == []


@pytest.mark.parametrize(
    "error", [LlmTimedOut("no answer within 120s"), LlmRejected(400, "context too long")]
)
async def test_an_llm_timeout_or_refusal_is_a_failed_response(error):
    agent, _ = answerer([error])
    response = await agent.answer(command())
    assert isinstance(response, AgentResponseFailed) and str(error) in response.error


async def test_an_unavailable_llm_is_raised_for_the_worker_to_hold_the_command():
    agent, _ = answerer([LlmUnavailable("connection refused")])
    with pytest.raises(LlmUnavailable):
        await agent.answer(command())


async def test_without_context_the_agent_still_answers_and_says_why():
    context = FixedContext(ContextOutcome(None, "Context service unreachable after 3 attempts"))
    agent, llm = answerer([PROPOSAL], context)
    response = await agent.answer(command())
    assert isinstance(response, AgentResponseCompleted)
    assert response.context_version is None
    assert response.context_error == "Context service unreachable after 3 attempts"
    assert "No context from the knowledge graph" in llm.calls[0]["messages"][1].content


async def test_the_context_budget_is_cut_so_prompt_and_answer_fit_the_window():
    context = FixedContext()
    llm = ScriptedLlm([PROPOSAL])
    agent = CommandAnswerer(llm, context, worker_id="w", context_window=2000)
    await agent.answer(command())
    asked = context.requests[0]["token_budget"]
    assert 64 <= asked < 1500  # the command allowed 1500; 720 are kept for the answer
    wide = CommandAnswerer(llm, context, worker_id="w", context_window=100_000)
    await wide.answer(command())
    assert context.requests[1]["token_budget"] == 1500


async def test_a_window_too_small_for_any_context_still_asks_for_the_minimum():
    context = FixedContext()
    agent = CommandAnswerer(ScriptedLlm([PROPOSAL]), context, worker_id="w", context_window=600)
    await agent.answer(command())
    assert context.requests[0]["token_budget"] == 64


async def test_a_probe_is_answered_with_the_context_it_fetched_and_no_llm_call():
    context = FixedContext()
    agent, llm = answerer([PROPOSAL], context)
    probe = command(CommandKind.PROBE, inputs={"plan_id": "probe-plan-1"}, task_id=None, phase="PLANNED")
    response = await agent.answer(probe)
    assert isinstance(response, AgentResponseCompleted) and llm.calls == []
    assert response.context_version == "9" and response.context_error is None
    assert response.output["plan_id"] == "probe-plan-1" and response.output["context_version"] == "9"
    assert context.requests[0]["story_id"] == "story-1" and context.requests[0]["phase"] == "PLANNED"


async def test_a_probe_without_context_asks_again_then_says_why():
    context = FixedContext(ContextOutcome(None, "Context service unreachable at http://x (ConnectError)"))
    llm = ScriptedLlm([PROPOSAL])
    agent = CommandAnswerer(llm, context, worker_id="worker-a", probe_context_wait=0.6)
    response = await agent.answer(command(CommandKind.PROBE, inputs={}))
    assert isinstance(response, AgentResponseCompleted) and llm.calls == []
    assert response.context_version is None and "unreachable" in (response.context_error or "")
    assert len(context.requests) >= 2  # asked again within its wait before answering without


async def test_under_the_wait_policy_an_unreachable_context_holds_the_command():
    unreachable = FixedContext(
        ContextOutcome(None, "Context service unreachable after 3 attempts", reachable=False)
    )
    llm = ScriptedLlm([PROPOSAL])
    agent = CommandAnswerer(llm, unreachable, worker_id="worker-a", context_policy=ContextPolicy.WAIT)
    with pytest.raises(ContextUnavailable, match="unreachable"):
        await agent.answer(command())
    assert llm.calls == []  # no LLM time spent on an answer the policy does not want


async def test_under_the_wait_policy_a_refusal_is_still_answered_without_context():
    refused = FixedContext(ContextOutcome(None, "Context service refused (403): DEV may not see it"))
    agent = CommandAnswerer(
        ScriptedLlm([PROPOSAL]), refused, worker_id="w", context_policy=ContextPolicy.WAIT
    )
    response = await agent.answer(command())
    assert isinstance(response, AgentResponseCompleted) and "refused (403)" in (response.context_error or "")


async def test_a_failed_answer_records_the_context_it_had():
    agent, _ = answerer([LlmRejected(400, "bad request")])
    response = await agent.answer(command())
    assert isinstance(response, AgentResponseFailed)
    assert response.context_version == "9" and response.context_error is None
