"""`make bench`: run the benchmarks, write bench/results.json (machine-readable) and BENCHMARKS.md.

    python -m bench.run [NAME ...] [--quick]

Each module bench/<NAME>.py has `async run(ctx) -> dict` and `render(results) -> str` (markdown).
Running some of them keeps the others' last results; every result records when it was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import BenchContext, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
REPORT = ROOT / "BENCHMARKS.md"
ALL = [
    "backbone",
    "context",
    "orchestrator",
    "councils",
    "workspace",
    "workspace_task",
    "rehydration",
    "context_scale",
    "board",
    "humaneval",
]


def available() -> list[str]:
    return [name for name in ALL if (ROOT / "bench" / f"{name}.py").exists()]


def render_report(results: dict) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`python -m bench.run`); machine-readable copy in `bench/results.json`.",
        "Ratios are measured side by side in one run: the machines are shared and noisy, and absolute rates",
        "drift from run to run.",
        "",
    ]
    for name in ALL:
        if name not in results:
            continue
        module = importlib.import_module(f"bench.{name}")
        entry = results[name]
        host = entry.get("machine", {})
        lines += [
            module.render(entry),
            "",
            f"_Measured {entry.get('measured_at', '?')} with `{entry.get('command', 'make bench')}` on "
            f"{host.get('cpu', '?')}, {host.get('cores', '?')} cores, {host.get('memory_gib', '?')} GiB, "
            f"Python {host.get('python', '?')}, {host.get('nats_server', '?')}"
            + (f", 1-min load average {host['load_average_1min']}" if "load_average_1min" in host else "")
            + "._",
            "",
        ]
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {available()})")
    parser.add_argument(
        "--quick", action="store_true", help="fewer iterations (smoke run, not for the report)"
    )
    args = parser.parse_args()
    names = args.names or available()
    unknown = set(names) - set(available())
    if unknown:
        print(f"bench: unknown benchmark(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    host = machine()
    command = "make bench" if not args.names else f"python -m bench.run {' '.join(names)}"
    for name in names:
        scratch = Path(tempfile.mkdtemp(prefix=f"fleet-bench-{name}-"))
        ctx = BenchContext(scratch=scratch, quick=args.quick)
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            entry = await module.run(ctx)
        finally:
            ctx.close()
            shutil.rmtree(scratch, ignore_errors=True)
        entry.update(
            machine=host,
            command=command + (" --quick" if args.quick else ""),
            measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
            wall_seconds=round(time.perf_counter() - started, 1),
        )
        results[name] = entry
        print(f"bench: {name} done in {entry['wall_seconds']}s", file=sys.stderr, flush=True)
        if not args.quick:
            RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if not args.quick:
        REPORT.write_text(render_report(results))
        print(f"bench: wrote {RESULTS.relative_to(ROOT)} and {REPORT.relative_to(ROOT)}", file=sys.stderr)
    else:
        print(json.dumps({name: results[name] for name in names}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
