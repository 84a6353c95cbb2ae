"""Workspace benchmark: what the sandbox costs per command, side by side with a plain subprocess.

Three ways to run the same command, interleaved round by round so machine noise hits all alike:
1. plain: `subprocess.run(argv)` (no limits, no isolation, the floor);
2. unconfined: `UnconfinedSandbox.run` (prlimit, clean environment, capped reader, wall clock);
3. bubblewrap: `BubblewrapSandbox.run` (the above plus namespaces, binds and the pids cgroup).
Two commands: `true` (pure spawn cost) and `python -c pass` (what a test command pays at least).
Reported: median and p90 milliseconds per command and bubblewrap's extra over plain. Then what an
agent's `run_command ls` costs through the Toolbox (policy check, the sandbox, and the `git status`
that undoes changes outside the role's paths) against `ls` in the sandbox alone.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import BenchContext, median, percentile
from swe_fleet.redaction import redact
from swe_fleet.workspace.adapters.sandbox import BubblewrapSandbox, UnconfinedSandbox, minimal_env
from swe_fleet.workspace.app.toolbox import Toolbox
from swe_fleet.workspace.domain.policy import load_policies
from swe_fleet.workspace.domain.tools import ToolCall

COMMANDS = {"true": ["true"], "python -c pass": ["python", "-c", "pass"]}
WAYS = ("plain", "unconfined", "bubblewrap")


def _runner(way: str, root: Path) -> Callable[[list[str]], None]:
    limits = load_policies().for_role("DEV").limits
    if way == "plain":
        env = minimal_env([str(Path(sys.prefix) / "bin")])

        def plain(argv: list[str]) -> None:
            subprocess.run(argv, cwd=root, env=env, capture_output=True, check=True)

        return plain
    sandbox = UnconfinedSandbox() if way == "unconfined" else BubblewrapSandbox()
    if sandbox.available() is not None:
        raise RuntimeError(f"{way}: {sandbox.available()}")

    def run(argv: list[str]) -> None:
        result = sandbox.run(argv, cwd=root, limits=limits)
        if not result.ok:
            raise RuntimeError(f"{way} {argv}: {result.exit_code} {result.output[-300:]}")

    return run


async def run(ctx: BenchContext) -> dict[str, Any]:
    root = ctx.scratch / "checkout"
    root.mkdir()
    rounds = 5 if ctx.quick else 40
    runners = {way: _runner(way, root) for way in WAYS}
    figures: dict[str, Any] = {}
    for label, argv in COMMANDS.items():
        samples: dict[str, list[float]] = {way: [] for way in WAYS}
        for way in WAYS:  # one warm-up each (page cache, the cgroup hierarchy)
            runners[way](argv)
        for _ in range(rounds):
            for way in WAYS:
                started = time.perf_counter()
                runners[way](argv)
                samples[way].append((time.perf_counter() - started) * 1000)
        figures[label] = {
            way: {"median_ms": round(median(values), 2), "p90_ms": round(percentile(values, 90), 2)}
            for way, values in samples.items()
        }
        plain, bwrap = figures[label]["plain"]["median_ms"], figures[label]["bubblewrap"]["median_ms"]
        figures[label]["bubblewrap_extra_ms"] = round(bwrap - plain, 2)
    return {
        "rounds": rounds,
        "commands": figures,
        "toolbox": _toolbox_figures(root, rounds),
        "process_limit": BubblewrapSandbox().describe(),
    }


def _toolbox_figures(root: Path, rounds: int) -> dict[str, Any]:
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    sandbox = BubblewrapSandbox()
    policy = load_policies().for_role("DEV")
    toolbox = Toolbox(root, policy, sandbox, "true", redact)
    call = ToolCall(name="run_command", arguments={"command": "ls"})
    samples: dict[str, list[float]] = {"sandbox": [], "toolbox": []}
    for _ in range(rounds):
        started = time.perf_counter()
        sandbox.run(["ls"], cwd=root, limits=policy.limits)
        samples["sandbox"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        if not toolbox.execute(call).ok:
            raise RuntimeError("toolbox run_command ls failed")
        toolbox.steps_taken = 0  # a benchmark, not a task: no step limit
        samples["toolbox"].append((time.perf_counter() - started) * 1000)
    return {
        way: {"median_ms": round(median(v), 2), "p90_ms": round(percentile(v, 90), 2)}
        for way, v in samples.items()
    }


def render(results: dict[str, Any]) -> str:
    lines = [
        "## Workspace sandbox: cost per command",
        "",
        f"{results['rounds']} rounds, the three ways interleaved; milliseconds from spawn to exit "
        f"(output read). Confinement: {results.get('process_limit', '?')}.",
        "",
        "| command | plain median (p90) | unconfined median (p90) | bubblewrap median (p90) "
        "| bubblewrap extra |",
        "|---|---|---|---|---|",
    ]
    for label, figures in results["commands"].items():
        cells = [f"{figures[way]['median_ms']:.1f} ({figures[way]['p90_ms']:.1f})" for way in WAYS]
        lines.append(f"| `{label}` | {' | '.join(cells)} | +{figures['bubblewrap_extra_ms']:.1f} ms |")
    toolbox = results.get("toolbox")
    if toolbox:
        lines += [
            "",
            "An agent's `run_command ls` through the Toolbox (policy, sandbox, then `git status` in the "
            "sandbox to undo changes outside the role's paths) vs `ls` in the sandbox alone: "
            f"{toolbox['toolbox']['median_ms']:.1f} ms ({toolbox['toolbox']['p90_ms']:.1f}) vs "
            f"{toolbox['sandbox']['median_ms']:.1f} ms ({toolbox['sandbox']['p90_ms']:.1f}), median (p90).",
        ]
    return "\n".join(lines)
