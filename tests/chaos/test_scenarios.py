"""Every scenario: real processes, traffic, its fault, the drain, and the checker's verdict.

The checker (fleet_testing.chaos.checker) compares planning's records with the streams, the graph, the
orchestrator's KV and DEAD_LETTERS; a scenario passes only with nothing lost, nothing duplicated,
nothing wrong, every poison message dead-lettered with its reason and no valid event dead-lettered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet_testing.chaos.report import row
from fleet_testing.chaos.scenarios import SCENARIOS, SMOKE, run_scenario

pytestmark = pytest.mark.slow


async def test_scenario(scenario_name: str, tmp_path: Path, chaos_results: list) -> None:
    scenario = {**SCENARIOS, **SMOKE}[scenario_name]
    result = await run_scenario(scenario, tmp_path / scenario_name)
    chaos_results.append(result)
    print(row(result))
    print("\n".join(result.notes))
    findings = result.findings
    # The scenario did what it says: traffic flowed, and its fault or bad input was really injected.
    assert result.changes > 0 and findings.published > 0
    if scenario.disruptor is not None:
        assert result.faults_injected > 0, f"{scenario_name}: no fault was injected"
    if scenario.poison_every:
        assert findings.poison > 0
    if scenario.duplicate_every:
        assert findings.duplicate_copies > 0
    assert result.ok, (
        f"{scenario_name}: {findings.summary()}; drained in {result.drain_seconds}; logs in {result.workdir}"
    )
