"""`fleet verify`: the field report's checklist, automatically and honestly, against any deployment."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from swe_fleet.cli.common import err, out, print_json, print_table, settings
from swe_fleet.verify.report import VerifyReport


def verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
    deadline: Annotated[float, typer.Option(help="Seconds to wait for the probe's effects.")] = 90.0,
    probe: Annotated[
        bool, typer.Option("--probe/--no-probe", help="Drive a probe story through the flow.")
    ] = True,
    ready_url: Annotated[
        list[str] | None,
        typer.Option(
            "--ready-url",
            envvar="FLEET_VERIFY_READY_URLS",
            help="Another service process whose /readyz to judge (repeatable); the APIs' are always.",
        ),
    ] = None,
    liveness: Annotated[float, typer.Option(help="Seconds to watch each durable for a live puller.")] = 3.0,
) -> None:
    """Check connections, readiness, streams, live durables, and drive a probe through the whole flow.

    Exit code 0 only if every row is ✅.
    """
    from swe_fleet.verify.checks import verify as run_verify

    s = settings(ctx)

    def progress(step: str) -> None:
        if not as_json:
            err.print(f"fleet verify: {step}…", highlight=False)

    report = asyncio.run(
        run_verify(
            s,
            deadline_seconds=deadline,
            probe=probe,
            progress=progress,
            ready_urls=[url for value in ready_url or () for url in value.split(",") if url],
            liveness_seconds=liveness,
        )
    )
    if as_json:
        print_json(report.as_dict())
    else:
        render_report(report)
    raise typer.Exit(0 if report.ok else 1)


def render_report(report: VerifyReport) -> None:
    for section in ("connections", "readiness", "streams", "consumers", "probe"):
        rows = report.section(section)
        if rows:
            print_table(
                section.capitalize(),
                ["", "name", "expected", "found", "reason"],
                [(r.mark, r.name, r.expected, r.found, r.reason) for r in rows],
            )
    print_table(
        "Metrics",
        ["metric", "value", "state", "reason"],
        [(m.name, m.value, "✅" if m.ok else "❌", m.reason) for m in report.metrics],
    )
    failed = [r for r in report.rows if not r.ok]
    out.print("all checks ✅" if report.ok else f"{len(failed)} check(s) ❌", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
