"""HumanEval through the harness: the oracle and null runs on all 164 problems (they check the harness).

The run through the fleet's agents (one agent vs a council, local model, a fixed subset) joins this
section once the workspace service carries tasks out (issue 11).
"""

from __future__ import annotations

from typing import Any

from bench.harness import BenchContext
from swe_fleet.evaluation.adapters.problem_source import load_problems
from swe_fleet.evaluation.adapters.scratch_git import ScratchRepositories
from swe_fleet.evaluation.adapters.solvers import NullSolver, OracleSolver
from swe_fleet.evaluation.adapters.subprocess_tests import SubprocessTests
from swe_fleet.evaluation.app.harness import Harness
from swe_fleet.evaluation.app.ports import Solver
from swe_fleet.evaluation.domain.report import RunReport


async def _run(ctx: BenchContext, solver: Solver, limit: int | None) -> RunReport:
    problems = load_problems()[:limit]
    tests = SubprocessTests(timeout_seconds=15)
    harness = Harness(ScratchRepositories(ctx.scratch / solver.name, run_label=solver.name), tests)
    return await harness.run(problems, solver)


async def run(ctx: BenchContext) -> dict[str, Any]:
    limit = 20 if ctx.quick else None
    runs = {}
    for solver in (OracleSolver(), NullSolver()):
        report = await _run(ctx, solver, limit)
        runs[solver.name] = {
            **report.summary(),
            "per_problem_seconds": round(report.wall_seconds / max(report.problems, 1), 3),
            "not_passed": [o.task_id for o in report.outcomes if not o.passed][:20],
        }
    return {"runs": runs, "hidden_tests": SubprocessTests.isolation}


def render(results: dict[str, Any]) -> str:
    runs = results["runs"]
    lines = [
        "## HumanEval (issue 12)",
        "",
        "`fleet eval humaneval` makes each problem a scratch git repository whose `solution.py` holds the "
        "stub (signature and docstring); the solver's change is a commit on `fleet/<story-id>`; the "
        "problem's own tests stay outside the repository and run afterwards on the branch head "
        f"({results.get('hidden_tests', 'subprocess')}). The oracle and null runs check the harness: "
        "every canonical solution must pass and every stub must fail.",
        "",
        "| run | model | problems | passed | pass@1 | expected | wall s | s per problem |",
        "|---|---|---:|---:|---:|---|---:|---:|",
    ]
    expected = {"oracle": 1.0, "null": 0.0}
    for name, entry in runs.items():
        ok = entry["pass_at_1"] == expected.get(name)
        lines.append(
            f"| {name} | {entry['model']} | {entry['problems']} | {entry['passed']} | "
            f"{entry['pass_at_1']:.3f} | {expected.get(name, '-')} {'✅' if ok else '❌'} | "
            f"{entry['wall_seconds']} | {entry['per_problem_seconds']} |"
        )
    lines += [
        "",
        "Against a real model: `FLEET_LLM_URL=http://host:port/v1 FLEET_LLM_MODEL=name fleet eval humaneval "
        "--limit 20` (one agent) and the same with `--council-agents 3`; `--oracle` and `--null` "
        "need no model. The run through the agents needs the workspace service (issue 11) and is not "
        "measured here yet.",
    ]
    return "\n".join(lines)
