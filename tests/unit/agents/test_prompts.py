import pytest

from swe_fleet.agents.domain.context_pack import ContextPack
from swe_fleet.agents.domain.inputs import read_inputs
from swe_fleet.agents.domain.personas import PERSONAS
from swe_fleet.agents.domain.prompts import NO_CONTEXT, build_prompt
from swe_fleet.events.agent_protocol import LLM_KINDS, CommandKind
from swe_fleet.events.payloads import Role
from tests.unit.agents.samples import CRITIQUE, INPUTS, PLAN, PROPOSAL, STORY, TASK

PACK = ContextPack(
    system="Scope: DEV sees its story's tasks and decisions.",
    context="Decision D-7: services use FastAPI.",
    tools="Tool: run_tests",
    version="42",
)


def prompt(kind, role=Role.DEV, context=PACK, **extra):
    return build_prompt(kind, role, read_inputs(kind, {**INPUTS[kind], **extra}), context, agent_id="dev-2")


@pytest.mark.parametrize("role", list(Role))
def test_the_system_message_is_the_roles_persona_then_the_context_system_block(role):
    system = prompt(CommandKind.GENERATE, role=role).system
    assert system.startswith(PERSONAS[role])
    assert PACK.system in system
    assert system.index(PERSONAS[role]) < system.index(PACK.system)


@pytest.mark.parametrize("kind", LLM_KINDS)
def test_every_prompt_carries_the_context_blocks_and_asks_for_json(kind):
    built = prompt(kind)
    assert built.messages() == [("system", built.system), ("user", built.user)]
    assert PACK.context in built.user and PACK.tools in built.user
    assert "JSON object" in built.user


@pytest.mark.parametrize("kind", LLM_KINDS)
def test_without_context_the_prompt_says_so(kind):
    assert NO_CONTEXT in prompt(kind, context=None).user


@pytest.mark.parametrize(
    "kind", [CommandKind.GENERATE, CommandKind.CRITIQUE, CommandKind.REVISE, CommandKind.SCORE]
)
def test_task_kinds_show_the_task_and_every_rubric_criterion(kind):
    user = prompt(kind).user
    assert TASK["title"] in user and TASK["description"] in user
    assert "correctness (weight 3): Does what the task asks." in user
    assert "simplicity (weight 2)" in user


def test_generate_shows_the_acceptance_criteria():
    assert "- GET /health answers 200" in prompt(CommandKind.GENERATE).user


@pytest.mark.parametrize("kind", [CommandKind.CRITIQUE, CommandKind.SCORE, CommandKind.REVISE])
def test_kinds_about_a_proposal_show_all_of_it(kind):
    user = prompt(kind).user
    assert PROPOSAL["summary"] in user and PROPOSAL["approach"] in user
    assert "1. Add the route" in user and "3. Write tests" in user
    assert PROPOSAL["risks"][0] in user


def test_a_self_critique_is_told_it_reviews_its_own_proposal():
    assert "## Your own proposal" in prompt(CommandKind.CRITIQUE, self_critique=True).user
    assert "## The proposal" in prompt(CommandKind.CRITIQUE).user


def test_revise_shows_the_critiques_and_asks_what_changed():
    user = prompt(CommandKind.REVISE).user
    assert CRITIQUE["weaknesses"][0] in user and CRITIQUE["suggestions"][0] in user
    assert "changes" in user


def test_revise_without_critiques_asks_for_a_self_review():
    assert "No critique was received" in prompt(CommandKind.REVISE, critiques=[]).user


def test_score_names_every_criterion_to_score():
    assert '"correctness", "simplicity"' in prompt(CommandKind.SCORE).user


def test_derive_shows_story_plan_and_allowed_roles():
    user = prompt(CommandKind.DERIVE).user
    assert STORY["title"] in user and PLAN["description"] in user and PLAN["technical_notes"] in user
    assert "Product Owner's notes: Keep it small" in user
    assert "## Roles available\nDEV, QA" in user


def test_feedback_from_an_earlier_attempt_is_shown():
    user = prompt(CommandKind.DERIVE, feedback="tasks[1].role: ARCHITECT is not allowed").user
    assert "## Feedback on an earlier attempt\ntasks[1].role: ARCHITECT is not allowed" in user


def test_the_agent_is_named_last_so_a_councils_prompts_share_their_prefix():
    first = build_prompt(
        CommandKind.GENERATE,
        Role.DEV,
        read_inputs(CommandKind.GENERATE, INPUTS[CommandKind.GENERATE]),
        PACK,
        agent_id="dev-1",
    )
    second = build_prompt(
        CommandKind.GENERATE,
        Role.DEV,
        read_inputs(CommandKind.GENERATE, INPUTS[CommandKind.GENERATE]),
        PACK,
        agent_id="dev-2",
    )
    assert first.system == second.system
    assert first.user.endswith("You are agent dev-1. Work on your own; be concrete and brief.")
    assert first.user.removesuffix(
        "dev-1. Work on your own; be concrete and brief."
    ) == second.user.removesuffix("dev-2. Work on your own; be concrete and brief.")
