"""HumanEval through the harness: the oracle and null runs on all 164 problems (they check the harness),
and the real flow with the local model on a fixed small subset, one agent vs a council.

The real-flow runs call `fleet eval humaneval` as a user would (it starts a fleet of its own for each
run: fresh data, free ports, the council size asked), so what is measured is the product's command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import BenchContext
from swe_fleet.evaluation.adapters.problem_source import load_problems
from swe_fleet.evaluation.adapters.scratch_git import ScratchRepositories
from swe_fleet.evaluation.adapters.solvers import NullSolver, OracleSolver
from swe_fleet.evaluation.adapters.subprocess_tests import SubprocessTests
from swe_fleet.evaluation.app.harness import Harness
from swe_fleet.evaluation.app.ports import Solver
from swe_fleet.evaluation.domain.report import RunReport

# Small enough for 2 shared cores and a 270M model; problems with doctest examples in their docstring.
LOCAL_SUBSET = "0,2"
LOCAL_COUNCILS = (1, 3)
LOCAL_DEADLINE_SECONDS = 500
FLEET = Path(sys.executable).with_name("fleet")


async def _run(ctx: BenchContext, solver: Solver, limit: int | None) -> RunReport:
    problems = load_problems()[:limit]
    tests = SubprocessTests(timeout_seconds=15)
    harness = Harness(ScratchRepositories(ctx.scratch / solver.name, run_label=solver.name), tests)
    return await harness.run(problems, solver)


def _real_flow(ctx: BenchContext, council_agents: int) -> dict[str, Any]:
    work = ctx.scratch / f"fleet-{council_agents}"
    command = [
        str(FLEET), "eval", "humaneval", "--problems", LOCAL_SUBSET, "--council-agents", str(council_agents),
        "--deadline", str(LOCAL_DEADLINE_SECONDS), "--json", "--work-dir", str(work),
    ]  # fmt: skip
    print(f"bench: humaneval: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    run = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), timeout=7200)
    sys.stderr.write("".join(line + "\n" for line in run.stderr.splitlines() if line.startswith("[")))
    if run.returncode != 0:
        return {
            "error": (run.stderr.strip().splitlines() or ["no output"])[-1],
            "council_agents": council_agents,
        }
    report = json.loads(run.stdout)
    return {
        **{
            key: report[key] for key in ("solver", "model", "problems", "passed", "pass_at_1", "wall_seconds")
        },
        "council_agents": council_agents,
        "outcomes": [
            {
                "task_id": o["task_id"],
                "verdict": o["verdict"],
                "changed": o["changed"],
                "summary": o["summary"][:200],
            }
            for o in report["outcomes"]
        ],
    }


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
    real = [] if ctx.quick else [_real_flow(ctx, agents) for agents in LOCAL_COUNCILS]
    return {
        "runs": runs,
        "real_flow": real,
        "subset": LOCAL_SUBSET,
        "hidden_tests": SubprocessTests.isolation,
    }


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
    real = results.get("real_flow") or []
    if real:
        lines += [
            "",
            f"The real flow with the local model, problems {results.get('subset')}: each a story through "
            "planning, derivation, the council, dispatch and the workspace (a fleet of its own per run).",
            "",
            "| solver | model | problems | passed | pass@1 | wall s | where each story ended |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for entry in real:
            if "error" in entry:
                lines.append(
                    f"| council of {entry['council_agents']} | - | - | - | - | - | failed: {entry['error']} |"
                )
                continue
            ended = "; ".join(
                f"{o['task_id']} {o['verdict']}: {o['summary'][:90]}" for o in entry["outcomes"]
            )
            lines.append(
                f"| {entry['solver']} | {entry['model']} | {entry['problems']} | {entry['passed']} | "
                f"{entry['pass_at_1']:.3f} | {entry['wall_seconds']} | {ended.replace('|', '/')} |"
            )
    lines += [
        "",
        "Against a real model: `FLEET_LLM_URL=http://host:port/v1 FLEET_LLM_MODEL=name fleet eval humaneval "
        "--limit 20 --council-agents 1` and the same with `--council-agents 3` (each run starts a fleet of "
        "its own; `--fleet-url` uses a running one); `--oracle` and `--null` need no model.",
    ]
    return "\n".join(lines)
