"""`fleet demo`: start the embedded fleet, drive a story end to end with visible progress, show the proof.

The story's project is a small sample repository with a failing test (made under the data directory):
its plan is approved, the councils deliberate, the tasks are dispatched, and the workspace's agents
carry them out on the story's branch. The demo shows the change and its test results, or the failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from swe_fleet.cli.common import err, fail, out, print_table, settings

if TYPE_CHECKING:
    from rich.progress import Progress

    from swe_fleet.demo.driver import DemoDriver, Outcome
    from swe_fleet.settings import FleetSettings

T = TypeVar("T")

# A demo on a CPU model: each task's agent gets a modest budget, so a confused small model stops soon.
DEMO_WORKSPACE = {"workspace_max_tokens": 24_000, "workspace_answer_tokens": 384}


def say(message: str) -> None:
    err.print(f"  ✓ {message}", highlight=False)


def demo(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="FLEET_DATA_DIR", help="Embedded data (kept between runs)."),
    ] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", envvar="FLEET_HTTP_PORT")] = None,
    deadline: Annotated[
        float, typer.Option(help="Seconds to wait for every task to be dispatched, then carried out.")
    ] = 2400.0,
) -> None:
    """Run the fleet on embedded defaults and take one story from creation to a tested change on a branch."""
    from swe_fleet.embedded.child import EmbeddedServerError

    overrides: dict[str, Any] = {
        key: value for key, value in {"data_dir": data_dir, "http_port": http_port}.items() if value
    }
    s = settings(ctx)
    overrides |= {key: value for key, value in DEMO_WORKSPACE.items() if key not in s.model_fields_set}
    s = s.model_copy(update=overrides)
    try:
        ok = asyncio.run(run_demo(s, deadline))
    except EmbeddedServerError as error:
        fail(str(error), 3)
    except OSError as error:
        fail(f"could not start: {error}", 3)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    raise typer.Exit(0 if ok else 1)


async def run_demo(s: FleetSettings, deadline: float) -> bool:
    """The fleet up for the demo's length; True when the story went all the way and verify passed."""
    import httpx

    from swe_fleet.cli.up import run_fleet
    from swe_fleet.demo.driver import DemoDriver, DemoFailed
    from swe_fleet.security.client_token import bearer_headers, client_token

    stop, started = asyncio.Event(), asyncio.Event()
    fleet = asyncio.create_task(run_fleet(s, started=started, stop=stop))
    await asyncio.wait([fleet, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if fleet.done():
        fleet.result()
    try:
        # The PO's token, made on the fleet's first start under the data dir.
        headers = bearer_headers(client_token(s))
        async with httpx.AsyncClient(timeout=30.0, headers=headers) as http:
            return await drive_story(s, DemoDriver(s.resolved_api_url, http, say), deadline)
    except (DemoFailed, httpx.HTTPError) as error:
        err.print(f"fleet: demo failed: {error}", highlight=False)
        return False
    finally:
        stop.set()
        await fleet


async def drive_story(s: FleetSettings, driver: DemoDriver, deadline: float) -> bool:
    from swe_fleet.cli.verify import render_report
    from swe_fleet.demo.sample_repo import ensure_sample_repo
    from swe_fleet.verify.checks import verify

    repo = ensure_sample_repo(s.data_dir)
    run = await driver.next_run()
    err.print(f"\nfleet demo: run {run} — a story from creation to a tested change", highlight=False)
    say(f"sample repository {repo} (calc.py's add() is wrong; test_calc.py::test_add fails)")
    story_id, plan_id, _ = await driver.drive(run, str(repo))
    outcome = await with_progress(
        "tasks decided",
        "deriving tasks",
        lambda progress: driver.follow(story_id, plan_id, deadline, progress),
    )
    if outcome.dispatched:
        err.print("\nfleet demo: the workspace's agents at work on the sample repository", highlight=False)
        outcome.results = await with_progress(
            "carried out", "agents at work", lambda progress: driver.executions(story_id, deadline, progress)
        )
    await summarise(driver, outcome)
    show_executions(repo, outcome)
    err.print("\nfleet demo: fleet verify", highlight=False)
    report = await verify(s, deadline_seconds=120)
    render_report(report)
    return judge(outcome) and report.ok


async def with_progress(
    unit: str, first_phase: str, run: Callable[[Callable[[str, int, int], None]], Awaitable[T]]
) -> T:
    """Runs `run(progress)` under a progress bar: "<done>/<total> <unit>" (one line per change in a log)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} " + unit),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        return await run(_progress(bar, unit, first_phase))


def _progress(bar: Progress, unit: str, first_phase: str) -> Callable[[str, int, int], None]:
    task = bar.add_task(first_phase, total=None)
    last: list[tuple[str, int, int]] = []

    def progress(phase: str, done: int, total: int) -> None:
        bar.update(task, description=phase, completed=done, total=total or None)
        if not err.is_terminal and last != [(phase, done, total)]:
            last[:] = [(phase, done, total)]  # a log gets one line per change
            err.print(f"  … {phase}: {done}/{total} {unit}", highlight=False)

    return progress


def judge(outcome: Outcome) -> bool:
    """The story went all the way: every task decided, some dispatched, every dispatched one carried out."""
    from swe_fleet.demo.driver import ENDED

    decided = [t for t in outcome.tasks if t["status"] in ENDED]
    complete = bool(outcome.tasks) and len(decided) == len(outcome.tasks) and outcome.dispatched > 0
    if not complete:
        err.print("fleet demo: the story did not reach dispatch (see above)", highlight=False)
        return False
    if outcome.dispatched < len(outcome.tasks):
        err.print(
            f"fleet demo: {len(outcome.tasks) - outcome.dispatched} task(s) ended without a "
            "winner (every agent of the council failed: the reason is in the table)",
            highlight=False,
        )
    carried = [row for row in outcome.results if row["outcome"]]
    if len(carried) < outcome.dispatched:
        err.print("fleet demo: some dispatched tasks have no workspace result yet", highlight=False)
        return False
    return True


async def summarise(driver: DemoDriver, outcome: Outcome) -> None:
    if outcome.derivation_failure:
        err.print(f"  ✗ no tasks could be derived: {outcome.derivation_failure}", highlight=False)
    out.print(
        f"\nStory {outcome.story_id}: {len(outcome.tasks)} task(s), {outcome.dispatched} dispatched "
        f"in {outcome.seconds:.0f}s",
        highlight=False,
    )
    decided = await driver.decisions(outcome.story_id)
    print_table(
        "What the councils decided",
        ["task", "role", "status", "winner", "score", "agents", "failed", "why"],
        [
            (
                d["task"],
                d["role"],
                d["status"],
                d["winner"],
                f"{d['score']:.2f}" if d["score"] is not None else "-",
                d["agents"],
                d["failures"],
                (d["why"] or "")[:160],
            )
            for d in decided
        ],
    )
    totals = await driver.totals()
    print_table(
        "The decision graph so far (all runs; fleet verify probes left out)",
        list(totals),
        [list(totals.values())],
    )
    out.print(f"On the board: {driver.api}/stories/{outcome.story_id}", highlight=False)


def _tests(value: Any) -> str:
    return "-" if value is None else ("pass" if value else "fail")


def show_executions(repo: Path, outcome: Outcome) -> None:
    """What the agents did: the result of each dispatched task, and the sample's tests on the branch."""
    from swe_fleet.demo.sample_repo import tests_on_branch

    if not outcome.results:
        return
    rows = [
        (
            r["task"],
            r["outcome"] or "no result yet",
            r["branch"] or "-",
            (r["commit_sha"] or "-")[:12],
            f"{_tests(r['before'])} → {_tests(r['after'])}",
            ", ".join(r["failing"] or []) or "-",
            ", ".join(r["files"] or []) or "-",
            (r["reason"] or "")[:160],
        )
        for r in outcome.results
    ]
    columns = ["task", "outcome", "branch", "commit", "tests", "failing", "files", "why not"]
    print_table("What the agents did (fleet tasks show TASK for the timeline and diff)", columns, rows)
    branch = f"fleet/{outcome.story_id}"
    if any(r["commit_sha"] for r in outcome.results):
        passed, line = tests_on_branch(repo, branch)
        verdict = "pass" if passed else "FAIL"
        out.print(f"\nThe sample's tests on {branch}: {verdict} ({line})", highlight=False)
    else:
        out.print(
            f"\nNothing was committed on {branch}: main and every branch are as they were.", highlight=False
        )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
