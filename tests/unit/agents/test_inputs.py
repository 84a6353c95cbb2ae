import pytest

from swe_fleet.agents.domain.inputs import DEFAULT_RUBRIC, BadInputs, DeriveInputs, ScoreInputs, read_inputs
from swe_fleet.events.agent_protocol import LLM_KINDS, CommandKind
from swe_fleet.events.payloads import Role
from tests.unit.agents.samples import INPUTS, PLAN, PROPOSAL, TASK


@pytest.mark.parametrize("kind", LLM_KINDS)
def test_the_orchestrators_inputs_of_every_kind_are_read(kind):
    inputs = read_inputs(kind, INPUTS[kind])
    assert type(inputs).__name__.lower().startswith(kind.value)


def test_a_missing_proposal_is_refused_naming_the_input():
    with pytest.raises(
        BadInputs, match=r"critique command has unusable inputs: inputs\.proposal: Field required"
    ):
        read_inputs(CommandKind.CRITIQUE, {"task": TASK})


def test_a_task_without_title_is_refused():
    with pytest.raises(BadInputs, match=r"inputs\.task\.title"):
        read_inputs(CommandKind.GENERATE, {"task": {"task_id": "t"}})


def test_unknown_inputs_are_ignored_so_the_orchestrator_may_add_more():
    inputs = read_inputs(CommandKind.GENERATE, {"task": TASK, "something_new": [1, 2]})
    assert inputs.task.title == TASK["title"]


def test_derived_task_roles_are_those_asked_for_else_the_plans_else_all():
    assert read_inputs(CommandKind.DERIVE, {"plan": PLAN, "roles": ["QA"]}).allowed_roles == [Role.QA]
    assert read_inputs(CommandKind.DERIVE, {"plan": PLAN}).allowed_roles == [Role.DEV, Role.QA]
    assert DeriveInputs.model_validate({"plan": {"description": "x"}}).allowed_roles == list(Role)


def test_the_rubric_keeps_the_first_of_repeated_criteria_and_defaults_when_empty():
    rubric = [
        {"criterion": "correctness", "weight": 3},
        {"criterion": "clarity", "weight": 1},
        {"criterion": "correctness", "weight": 9},
    ]
    inputs = ScoreInputs.model_validate({"task": TASK, "proposal": PROPOSAL, "rubric": rubric})
    assert [(c.criterion, c.weight) for c in inputs.criteria] == [("correctness", 3), ("clarity", 1)]
    bare = ScoreInputs.model_validate({"task": TASK, "proposal": PROPOSAL})
    assert bare.criteria == list(DEFAULT_RUBRIC)


def test_feedback_may_come_as_a_list_of_problems():
    inputs = read_inputs(CommandKind.DERIVE, {"plan": PLAN, "feedback": ["T2 has no title", "cycle"]})
    assert inputs.feedback == "T2 has no title\ncycle"
