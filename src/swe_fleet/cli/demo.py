"""`fleet demo`: start the embedded fleet, drive a story end to end with visible progress, show the proof."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from swe_fleet.cli.common import err, fail, out, print_table, settings


def demo(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="FLEET_DATA_DIR", help="Embedded data (kept between runs)."),
    ] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", envvar="FLEET_HTTP_PORT")] = None,
    deadline: Annotated[
        float, typer.Option(help="Seconds to wait for every task to be dispatched.")
    ] = 2400.0,
) -> None:
    """Run the fleet on embedded defaults and take one story from creation to dispatched tasks."""
    import httpx
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from swe_fleet.cli.up import run_fleet
    from swe_fleet.cli.verify import render_report
    from swe_fleet.demo.driver import ENDED, DemoDriver, DemoFailed
    from swe_fleet.embedded.child import EmbeddedServerError
    from swe_fleet.security.client_token import bearer_headers, client_token
    from swe_fleet.verify.checks import verify

    overrides = {key: value for key, value in {"data_dir": data_dir, "http_port": http_port}.items() if value}
    s = settings(ctx).model_copy(update=overrides)

    def say(message: str) -> None:
        err.print(f"  ✓ {message}", highlight=False)

    async def main() -> bool:
        stop, started = asyncio.Event(), asyncio.Event()
        fleet = asyncio.create_task(run_fleet(s, started=started, stop=stop))
        await asyncio.wait([fleet, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
        if fleet.done():
            fleet.result()
        try:
            headers = bearer_headers(client_token(s))  # the PO's token, made on the fleet's first start
            async with httpx.AsyncClient(timeout=30.0, headers=headers) as http:
                driver = DemoDriver(s.resolved_api_url, http, say)
                run = await driver.next_run()
                err.print(
                    f"\nfleet demo: run {run} — a story from creation to dispatched tasks", highlight=False
                )
                story_id, plan_id, _ = await driver.drive(run)
                with Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TextColumn("{task.completed}/{task.total} tasks decided"),
                    TimeElapsedColumn(),
                    console=err,
                    transient=False,
                ) as bar:
                    task = bar.add_task("deriving tasks", total=None)

                    last: list[tuple[str, int, int]] = []

                    def progress(phase: str, done: int, total: int) -> None:
                        bar.update(task, description=phase, completed=done, total=total or None)
                        if not err.is_terminal and last != [(phase, done, total)]:
                            last[:] = [(phase, done, total)]  # a log gets one line per change
                            err.print(f"  … {phase}: {done}/{total} tasks decided", highlight=False)

                    outcome = await driver.follow(story_id, plan_id, deadline, progress)
                await _summarise(driver, outcome)
                err.print("\nfleet demo: fleet verify", highlight=False)
                report = await verify(s, deadline_seconds=120)
                render_report(report)
                decided = [t for t in outcome.tasks if t["status"] in ENDED]
                complete = (
                    bool(outcome.tasks) and len(decided) == len(outcome.tasks) and outcome.dispatched > 0
                )
                if not complete:
                    err.print("fleet demo: the story did not reach dispatch (see above)", highlight=False)
                elif outcome.dispatched < len(outcome.tasks):
                    err.print(
                        f"fleet demo: {len(outcome.tasks) - outcome.dispatched} task(s) ended without a "
                        "winner (every agent of the council failed: the reason is in the table)",
                        highlight=False,
                    )
                return complete and report.ok
        except (DemoFailed, httpx.HTTPError) as error:
            err.print(f"fleet: demo failed: {error}", highlight=False)
            return False
        finally:
            stop.set()
            await fleet

    async def _summarise(driver: DemoDriver, outcome) -> None:
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

    try:
        ok = asyncio.run(main())
    except EmbeddedServerError as error:
        fail(str(error), 3)
    except OSError as error:
        fail(f"could not start: {error}", 3)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
