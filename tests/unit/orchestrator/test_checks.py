"""Objective checks: each one passes on a good proposal and really fails on a bad one."""

from __future__ import annotations

import pytest

from fleet_testing.stand_in.answers import proposal_answer
from swe_fleet.events.agent_protocol import Proposal, Revision
from swe_fleet.events.payloads import Role, TaskSpec
from swe_fleet.orchestrator.domain import checks
from swe_fleet.orchestrator.domain.checks import artifact_parses, objective_score, run_checks

TASK = TaskSpec(task_id="p-T1", title="Export invoices as CSV", role=Role.DEV, estimate_hours=3)
CRITERIA = ["Invoices export to a CSV file", "Totals match the ledger"]


def good(**changes) -> Proposal:
    base = proposal_answer(TASK.model_dump(), "dev-1")
    base["approach"] += " The CSV export of invoices keeps ledger totals matching."
    return Proposal.model_validate({**base, **changes})


def by_name(proposal: Proposal, previous: Proposal | None = None) -> dict[str, checks.CheckOutcome]:
    return {
        c.name: c for c in run_checks(proposal, task=TASK, acceptance_criteria=CRITERIA, previous=previous)
    }


def test_a_good_proposal_passes_every_applicable_check() -> None:
    outcomes = by_name(good())
    assert all(o.passed for o in outcomes.values()), outcomes
    assert not outcomes["revised_after_critique"].applicable
    assert objective_score(list(outcomes.values())) == 10.0


@pytest.mark.parametrize(
    ("language", "artifact", "passes"),
    [
        ("python", "def f(x):\n    return x + 1\n", True),
        ("python", "def f(x)\n    return x\n", False),
        ("json", '{"a": [1, 2]}', True),
        ("json", '{"a": [1, 2}', False),
        ("yaml", "a:\n  - 1\n  - 2\n", True),
        ("yaml", "a: [1, 2\n", False),
        ("yaml", "just some prose pretending to be yaml", False),
        ("sql", "SELECT a FROM t WHERE b = 'x;y'; INSERT INTO t (a) VALUES (1);", True),
        ("sql", "SELECT (a FROM t", False),
        ("sql", "SELECT 'unterminated FROM t", False),
        ("sql", "Here is the query: SELECT 1", False),
        ("shell", "if [ -f x ]; then\n  echo 'ok'\nfi\n", True),
        ("shell", "echo 'unterminated\n", False),
        ("bash", "for f in *; do\n  echo $f\n", False),
        ("", "print('hi')", False),
        ("python", "", False),
    ],
)
def test_artifacts_are_parsed_in_the_language_they_claim(language: str, artifact: str, passes: bool) -> None:
    outcome = artifact_parses(artifact, language)
    assert outcome.passed is passes, outcome.detail
    assert outcome.applicable


def test_no_artifact_and_unknown_languages_are_not_scored() -> None:
    assert not artifact_parses("", "").applicable
    unknown = artifact_parses("fn main() {}", "rust")
    assert unknown.passed and not unknown.applicable and "no parser" in unknown.detail


@pytest.mark.parametrize(
    "text", ["TODO: fill in", "lorem ipsum dolor", "As an AI, I cannot", "[insert name]"]
)
def test_placeholders_fail(text: str) -> None:
    outcome = by_name(good(approach=good().approach + " " + text))["no_placeholders"]
    assert not outcome.passed and "placeholder" in outcome.detail


def test_vague_or_repeated_steps_fail() -> None:
    assert not by_name(good(steps=["Do it", "Done"]))["steps_concrete"].passed
    assert not by_name(good(steps=["Write the code now", "write the code  now"]))["steps_concrete"].passed


def test_a_proposal_about_something_else_fails_addresses_task() -> None:
    off_topic = good(
        summary="We will repaint the office walls in a calm blue colour.",
        approach="Buy paint, rollers and brushes; move the furniture; paint two coats; let it dry fully. "
        * 2,
        steps=["Buy paint and rollers", "Paint two coats on the walls"],
        artifact="",
        artifact_language="",
    )
    outcome = by_name(off_topic)["addresses_task"]
    assert not outcome.passed and "missing" in outcome.detail


def test_length_and_risks() -> None:
    assert not by_name(good(summary="Short"))["length_bounds"].passed
    assert not by_name(good(approach="Too short."))["length_bounds"].passed
    assert not by_name(good(risks=[]))["risks_considered"].passed
    assert not by_name(good(risks=["none"]))["risks_considered"].passed


def test_a_revision_must_change_something_and_say_what() -> None:
    first = good()
    unchanged = Revision.model_validate({**first.model_dump(), "changes": ["Improved everything"]})
    assert not by_name(unchanged, previous=first)["revised_after_critique"].passed
    silent = Revision.model_validate(
        {**first.model_dump(), "steps": [*first.steps, "Add a rollback step now"]}
    )
    assert not by_name(silent, previous=first)["revised_after_critique"].passed
    real = Revision.model_validate({**silent.model_dump(), "changes": ["Added a rollback step"]})
    assert by_name(real, previous=first)["revised_after_critique"].passed


def test_the_objective_score_weighs_failures() -> None:
    broken = by_name(good(artifact="def f(:\n", artifact_language="python"))
    score = objective_score(list(broken.values()))
    weights = sum(o.weight for o in broken.values())
    assert score == pytest.approx(10 * (weights - checks.CHECK_WEIGHTS["artifact_parses"]) / weights)
