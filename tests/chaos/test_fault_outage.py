"""The `outage=SECONDS` fault action: a dependency down for a while from a given hit, then up for good."""

from __future__ import annotations

import time

import pytest

from swe_fleet import faults
from swe_fleet.errors import TransientError


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch):
    def arm(spec: str) -> None:
        monkeypatch.setattr(faults, "_FAULTS", faults._parse(spec))
        monkeypatch.setattr(faults, "_HITS", faults.Counter())
        monkeypatch.setattr(faults, "_OUTAGE_ENDS", {})

    return arm


def test_an_outage_starts_at_its_hit_lasts_its_time_and_never_comes_back(outage) -> None:
    outage("graph.apply:outage=0.3@3")
    faults.fault_point("graph.apply")
    faults.fault_point("graph.apply")  # hits 1 and 2 pass
    with pytest.raises(TransientError, match=r"outage injected at graph\.apply"):
        faults.fault_point("graph.apply")
    with pytest.raises(faults.InjectedOutage):
        faults.fault_point("graph.apply")
    time.sleep(0.35)
    for _ in range(5):
        faults.fault_point("graph.apply")  # over: the store answers again


def test_other_points_are_untouched_by_an_outage(outage) -> None:
    outage("graph.apply:outage=5")
    faults.fault_point("context.projection.before_commit")
    with pytest.raises(TransientError):
        faults.fault_point("graph.apply")
