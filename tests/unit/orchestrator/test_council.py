"""Council configuration: the packaged file is valid; a bad entry is refused naming the entry and its line."""

from __future__ import annotations

import pytest

from swe_fleet.events.payloads import Role
from swe_fleet.orchestrator.domain.council import (
    DEFAULT_COUNCILS_FILE,
    CouncilConfigError,
    DeliberationPhase,
    load_councils,
    parse_councils,
)

PACKAGED = DEFAULT_COUNCILS_FILE.read_text()


def test_packaged_councils_cover_every_role() -> None:
    councils = load_councils()
    assert set(councils.councils) == set(Role)
    dev = councils.for_role(Role.DEV)
    assert dev.agent_ids == ["dev-1", "dev-2", "dev-3"]
    # The protocol `make bench` found best per token (no critique round, one judge: 1.28x one agent).
    assert (dev.rounds, dev.judges_per_proposal) == (0, 1)
    assert dev.rubric and all(c.description for c in dev.rubric)
    assert councils.deriving_agent == "architect-1"


def test_a_role_entry_overrides_the_defaults() -> None:
    text = PACKAGED.replace("  QA:\n    rubric:", "  QA:\n    agents: 5\n    rounds: 2\n    rubric:")
    qa = parse_councils(text).for_role(Role.QA)
    assert (qa.agents, qa.rounds) == (5, 2)
    assert parse_councils(text).for_role(Role.DEV).agents == 3


def test_a_negative_weight_is_refused_with_its_entry_and_line() -> None:
    lines = PACKAGED.splitlines()
    index = next(i for i, line in enumerate(lines) if "weight: 2" in line)
    lines[index] = lines[index].replace("weight: 2", "weight: -2")
    with pytest.raises(CouncilConfigError) as error:
        parse_councils("\n".join(lines), source="bad.yaml")
    message = str(error.value)
    assert message.startswith("bad.yaml: councils.DEV.rubric.1.weight")
    assert f"(line {index + 1})" in message
    assert "greater than 0" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("councils: {DEV: {rubric: []}}", "councils.DEV.rubric"),
        (
            "councils:\n  DEV:\n    agents: 0\n    rubric: [{criterion: a, description: b}]\n",
            "councils.DEV.agents",
        ),
        ("councils: {WIZARD: {rubric: [{criterion: a, description: b}]}}", "councils.WIZARD"),
        ("defaults: {agents: 3, colour: red}\ncouncils: {}", "defaults.colour"),
        ("councils: [1, 2]", "councils"),
        (
            "councils: {DEV: {rubric: [{criterion: a, description: b}, {criterion: A, description: c}]}}",
            "unique",
        ),
        (
            "councils: {DEV: {rubric: [{criterion: a, description: b}]}}",
            "missing: ARCHITECT, QA, DEVOPS, DATA",
        ),
        ("- just\n- a list", "mapping"),
        ("councils: {DEV: [unclosed", "not valid YAML"),
    ],
)
def test_bad_documents_are_refused_clearly(text: str, expected: str) -> None:
    with pytest.raises(CouncilConfigError, match=r"councils\.yaml") as error:
        parse_councils(text)
    assert expected in str(error.value)


def test_an_unreadable_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CouncilConfigError, match="cannot read councils file"):
        load_councils(tmp_path / "nope.yaml")


def test_overrides_apply_to_every_council_and_the_derivation() -> None:
    councils = load_councils().with_overrides(agents=1, rounds=2, deadline_seconds=7)
    for council in councils.councils.values():
        assert council.agents == 1 and council.rounds == 2
        assert all(council.deadlines.seconds(phase) == 7 for phase in DeliberationPhase)
    assert councils.derivation.deadline_seconds == 7
