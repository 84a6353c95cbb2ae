"""RELIABILITY.md: a run of some scenarios replaces their rows and keeps the others."""

from __future__ import annotations

from pathlib import Path

from fleet_testing.chaos.checker import Findings
from fleet_testing.chaos.report import update_reliability, write_reliability
from fleet_testing.chaos.scenarios import SCENARIOS, Result


def _result(name: str, published: int, note: str) -> Result:
    return Result(SCENARIOS[name], Findings(published=published), 10, 0, 1.5, 2, [note], Path("."))


def test_a_partial_run_replaces_its_rows_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "RELIABILITY.md"
    write_reliability([_result("baseline", 11, "old"), _result("poison", 12, "kept")], path, "full")
    order = list(SCENARIOS)
    for _ in range(2):  # twice: the line saying where the rows came from is replaced, not repeated
        update_reliability(
            [_result("baseline", 21, "new"), _result("nats-cluster-follower", 22, "added")],
            path,
            "cmd",
            order,
        )
    text = path.read_text()
    table = [line for line in text.splitlines() if line.startswith("| ") and "scenario |" not in line]
    assert [line.split("|")[1].strip() for line in table] == ["baseline", "poison", "nats-cluster-follower"]
    assert "| 21 |" in table[0] and "| 12 |" in table[1] and "| 22 |" in table[2]
    assert "- **baseline**: new;" in text and "- **poison**: kept;" in text and "old" not in text
    assert text.count("Rows baseline, nats-cluster-follower: from `cmd`") == 1
    assert text.index("Machine:") < text.index("Rows baseline") < text.index("| scenario |")
