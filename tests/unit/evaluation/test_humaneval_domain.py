"""The files made from a HumanEval problem, the problem selection and pass@1: pure logic."""

from __future__ import annotations

import ast
import gzip
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from swe_fleet.evaluation.adapters.problem_source import (
    HUMAN_EVAL_SIZE,
    ProblemsUnavailable,
    load_problems,
    select,
)
from swe_fleet.evaluation.domain.humaneval import Problem
from swe_fleet.evaluation.domain.report import ProblemOutcome, RunReport, Verdict

SAMPLE = {
    "task_id": "HumanEval/7",
    "prompt": 'def double(x: int) -> int:\n    """Twice x.\n    >>> double(2)\n    4\n    """\n',
    "entry_point": "double",
    "canonical_solution": "    return 2 * x\n",
    "test": "def check(candidate):\n    assert candidate(3) == 6\n",
}


def test_the_stub_keeps_signature_and_docstring_and_raises() -> None:
    problem = Problem.model_validate(SAMPLE)
    stub = problem.stub()
    assert stub.startswith(SAMPLE["prompt"])
    function = ast.parse(stub).body[0]
    assert isinstance(function, ast.FunctionDef) and function.name == "double"
    assert ast.get_docstring(function) == "Twice x.\n>>> double(2)\n4"
    assert isinstance(function.body[-1], ast.Raise)
    assert "check" not in stub  # the hidden test never reaches the agents' file


def test_check_program_runs_the_hidden_check_on_the_solution() -> None:
    problem = Problem.model_validate(SAMPLE)
    namespace: dict[str, object] = {}
    exec(problem.check_program(problem.canonical_file()), namespace)  # the canonical solution passes
    with pytest.raises(NotImplementedError):
        exec(problem.check_program(problem.stub()), {})
    with pytest.raises(AssertionError):
        exec(problem.check_program(SAMPLE["prompt"] + "    return x\n"), {})


def test_slug_and_number_come_from_the_task_id() -> None:
    problem = Problem.model_validate(SAMPLE)
    assert (problem.number, problem.slug) == (7, "humaneval-007")
    with pytest.raises(ValidationError):
        Problem.model_validate({**SAMPLE, "task_id": "MBPP/7"})
    with pytest.raises(ValidationError):
        Problem.model_validate({**SAMPLE, "entry_point": "not a name"})


def test_the_packaged_data_holds_164_problems_in_order() -> None:
    problems = load_problems()
    assert len(problems) == HUMAN_EVAL_SIZE
    assert [p.number for p in problems] == list(range(HUMAN_EVAL_SIZE))
    for problem in problems:  # every stub and canonical file is valid Python
        ast.parse(problem.stub())
        ast.parse(problem.canonical_file())


def test_a_malformed_data_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write(json.dumps(SAMPLE) + "\n")
        out.write(json.dumps({**SAMPLE, "prompt": ""}) + "\n")
    with pytest.raises(ProblemsUnavailable, match="line 2"):
        load_problems(path)


def test_select_by_number_or_limit() -> None:
    problems = [Problem.model_validate({**SAMPLE, "task_id": f"HumanEval/{n}"}) for n in range(5)]
    assert [p.number for p in select(problems, limit=2)] == [0, 1]
    assert [p.number for p in select(problems, ids=[4, 1])] == [4, 1]
    assert [p.number for p in select(problems, ids=[4, 1, 2], limit=2)] == [4, 1]
    with pytest.raises(ProblemsUnavailable, match="numbered 9"):
        select(problems, ids=[9])


def test_pass_at_1_counts_passed_problems_over_all_problems() -> None:
    report = RunReport(solver="oracle", model="none", problems=4)
    assert report.pass_at_1 == 0.0
    for verdict in (Verdict.PASSED, Verdict.FAILED, Verdict.PASSED, Verdict.TIMED_OUT):
        report.outcomes.append(ProblemOutcome(task_id="HumanEval/0", verdict=verdict))
    assert (report.passed, report.pass_at_1) == (2, 0.5)
    assert report.counts() == {"passed": 2, "failed": 1, "timed out": 1, "error": 0}
    assert report.summary()["pass_at_1"] == 0.5
    assert RunReport(solver="null", model="none", problems=0).pass_at_1 == 0.0
