"""`fleet eval humaneval` as a user runs it: real problems, real git, real child processes for the tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FLEET = Path(sys.executable).with_name("fleet")


def fleet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(FLEET), "eval", "humaneval", *args], capture_output=True, text=True, timeout=300
    )


def test_oracle_and_null_runs_report_pass_at_1_with_a_progress_line_per_problem(tmp_path: Path) -> None:
    oracle = fleet("--oracle", "--problems", "0,32,81", "--json", "--work-dir", str(tmp_path), "--keep")
    assert oracle.returncode == 0, oracle.stderr
    report = json.loads(oracle.stdout)
    assert (report["solver"], report["problems"], report["passed"], report["pass_at_1"]) == (
        "oracle",
        3,
        3,
        1.0,
    )
    assert report["machine"]["cores"] >= 1 and report["wall_seconds"] > 0
    progress = [line for line in oracle.stderr.splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in progress] == ["HumanEval/0", "HumanEval/32", "HumanEval/81"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["humaneval-000", "humaneval-032", "humaneval-081"]

    null = fleet("--null", "--limit", "3", "--json")
    assert null.returncode == 0, null.stderr
    report = json.loads(null.stdout)
    assert (report["passed"], report["pass_at_1"], report["verdicts"]["failed"]) == (0, 0.0, 3)


def test_bad_requests_are_one_line_and_exit_2() -> None:
    for args, message in [
        (("--oracle", "--null"), "choose one of --oracle and --null"),
        (("--oracle", "--problems", "7,x"), "--problems takes problem numbers"),
        (("--oracle", "--problems", "164"), "no HumanEval problem numbered 164"),
    ]:
        result = fleet(*args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("fleet: ") and message in lines[0], result.stderr
