"""`fleet demo` as a user runs it (real processes, the real local LLM), twice on one data directory.

The councils are kept small (one task, two agents, one round) to bound the run time; `make demo`
runs the packaged councils, and its output from a fresh clone is quoted in the closing notes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_flow_real_llm import small_councils
from tests.support.fleet_up import embedded_env

RUN_TIMEOUT = 1500.0  # one `fleet demo` on two shared cores and a CPU LLM: generous, never a speed claim
# The demo's own deadline (for dispatch, then again for the workspace) ends it, with its summary, inside
# the run's timeout.
DEMO_DEADLINE = "600"
# pytest-timeout (600 s for other tests) must not cut the two runs short: it allows both, plus set-up.
pytestmark = [pytest.mark.llm, pytest.mark.timeout(2 * RUN_TIMEOUT + 120)]


def graph_totals(output: str) -> dict[str, int]:
    """The summary's totals table, read back from the demo's output."""
    lines = output.splitlines()
    [header_at] = [i for i, line in enumerate(lines) if "┃ Story" in line and "┃ Plan " in line]
    names = [cell.strip() for cell in lines[header_at].strip("┃ ").split("┃")]
    row = next(line for line in lines[header_at + 1 :] if line.startswith("│"))
    values = [int(cell.strip()) for cell in row.strip("│ ").split("│")]
    return dict(zip(names, values, strict=True))


def run_demo(data_dir: Path, councils: Path, llm_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **embedded_env(data_dir),
        "FLEET_LLM_URL": llm_url,  # the session's model, loaded once for every `llm` test
        "FLEET_ORCHESTRATOR_COUNCILS": str(councils),
        "COLUMNS": "400",  # rich: one table row per line, whatever the cell lengths
    }
    try:
        return subprocess.run(
            [sys.executable, "-m", "swe_fleet.cli", "demo", "--deadline", DEMO_DEADLINE],
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as timed_out:
        said = timed_out.stderr.decode(errors="replace") if isinstance(timed_out.stderr, bytes) else ""
        pytest.fail(f"fleet demo ran over {RUN_TIMEOUT:.0f} s; it last said:\n{said[-4000:]}")


def test_the_demo_runs_twice_and_the_history_grows(llama_server, tmp_path: Path) -> None:
    councils = small_councils(tmp_path / "councils.yaml", max_tasks=1, agents=2)
    data_dir = tmp_path / "data"

    first = run_demo(data_dir, councils, llama_server.url)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_demo(data_dir, councils, llama_server.url)
    assert second.returncode == 0, second.stderr[-3000:]

    assert "run 1 — a story from creation to a tested change" in first.stderr
    assert "run 2 — a story from creation to a tested change" in second.stderr
    assert "Story US-DEMO-001: 1 task(s), 1 dispatched" in first.stdout
    assert "Story US-DEMO-002: 1 task(s), 1 dispatched" in second.stdout
    for run in (first, second):
        assert "all checks ✅" in run.stdout + run.stderr
    before, after = graph_totals(first.stdout), graph_totals(second.stdout)
    # Each run adds its story, plan, approval, task, deliberation and dispatch; the probes that each
    # run's fleet verify drove through plan approval are left out of the totals.
    for label in ("Story", "Plan", "PlanApproval", "Task", "Deliberation", "TaskDispatch", "TaskResult"):
        assert (before[label], after[label]) == (1, 2), (label, before, after)
    # The workspace carried each task out: a commit on the story's branch with its tests run there, or
    # a failure that left every branch as it was (the local model may well fail: shown, not hidden).
    for run, story in ((first, "US-DEMO-001"), (second, "US-DEMO-002")):
        assert "What the agents did" in run.stdout
        assert (
            f"The sample's tests on fleet/{story}:" in run.stdout
            or f"Nothing was committed on fleet/{story}" in run.stdout
        )
    # A council of two proposed (an agent of the tiny local model may fail: its failure is in the table).
    assert after["Proposal"] > before["Proposal"] >= 1
