"""Fault plans: explicit configuration (nothing armed by importing), and the `outage=SECONDS` action:
a dependency down for a while from a given hit, then up for good."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from swe_fleet import faults
from swe_fleet.errors import TransientError


@pytest.fixture
def armed() -> Iterator[None]:
    yield
    faults.arm("")  # disarm: later tests in this process must see no fault


def test_an_outage_starts_at_its_hit_lasts_its_time_and_never_comes_back() -> None:
    plan = faults.FaultPlan.parse("graph.apply:outage=0.3@3")
    plan.hit("graph.apply")
    plan.hit("graph.apply")  # hits 1 and 2 pass
    with pytest.raises(TransientError, match=r"outage injected at graph\.apply"):
        plan.hit("graph.apply")
    with pytest.raises(faults.InjectedOutage):
        plan.hit("graph.apply")
    time.sleep(0.35)
    for _ in range(5):
        plan.hit("graph.apply")  # over: the store answers again


def test_other_points_are_untouched_by_an_outage() -> None:
    plan = faults.FaultPlan.parse("graph.apply:outage=5")
    plan.hit("context.projection.before_commit")
    with pytest.raises(TransientError):
        plan.hit("graph.apply")


def test_a_raise_limited_to_its_nth_hit_fires_once() -> None:
    plan = faults.FaultPlan.parse("planning.outbox.after_commit:raise@2")
    plan.hit("planning.outbox.after_commit")
    with pytest.raises(faults.InjectedFault):
        plan.hit("planning.outbox.after_commit")
    plan.hit("planning.outbox.after_commit")


def test_fault_points_fire_only_once_armed_and_not_after_disarming(
    armed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_FAULTS", "graph.apply:raise")
    faults.fault_point("graph.apply")  # the environment alone arms nothing
    faults.arm("graph.apply:raise")
    with pytest.raises(faults.InjectedFault):
        faults.fault_point("graph.apply")
    faults.arm("")
    faults.fault_point("graph.apply")


def test_settings_carry_the_spec_from_fleet_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    from swe_fleet.settings import FleetSettings

    monkeypatch.setenv("FLEET_FAULTS", "orchestrator.after_publish:kill@2")
    plan = faults.FaultPlan.parse(FleetSettings().faults)
    assert plan.faults["orchestrator.after_publish"] == faults.Fault("kill", None, 2)
