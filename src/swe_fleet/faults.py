"""Named fault-injection points, off unless the process arms them (tests and `make chaos` only).

A process entry point (`fleet up`, `fleet serve`) arms the spec of its settings' `faults`, i.e.

    FLEET_FAULTS="planning.outbox.after_publish:kill,context.projection.before_commit:raise"

Actions: `kill` (SIGKILL this process: a crash, nothing flushed), `raise` (an exception where the
point is), `delay=SECONDS`, `outage=SECONDS` (a dependency down for that long: every hit raises
`TransientError` from the first hit on, then the point works again for good). A point may be
limited to its Nth hit with `@N`, e.g. `...:kill@3`; for an outage, `@N` is the hit it starts at.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

from swe_fleet.errors import TransientError


class InjectedFault(RuntimeError):
    pass


class InjectedOutage(TransientError):
    """A dependency made unavailable by FLEET_FAULTS: callers retry it like a real outage."""


@dataclass(frozen=True)
class Fault:
    action: str
    argument: float | None
    on_hit: int | None


@dataclass
class FaultPlan:
    """The faults armed in one process, with the hits counted so far at each point."""

    faults: dict[str, Fault] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    outage_ends: dict[str, float] = field(default_factory=dict)  # point -> monotonic time it ends

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """A plan from a FLEET_FAULTS-style spec; an empty spec arms nothing."""
        faults: dict[str, Fault] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            point, _, action = item.partition(":")
            action = action or "raise"
            on_hit = None
            if "@" in action:
                action, _, hit = action.partition("@")
                on_hit = int(hit)
            name, _, argument = action.partition("=")
            faults[point] = Fault(name, float(argument) if argument else None, on_hit)
        return cls(faults)

    def hit(self, point: str) -> None:
        """Do what the plan says for `point`; nothing at all when it is not named there."""
        fault = self.faults.get(point)
        if fault is None:
            return
        self.hits[point] += 1
        if fault.action == "outage":
            self._outage(point, fault)
            return
        if fault.on_hit is not None and self.hits[point] != fault.on_hit:
            return
        if fault.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif fault.action == "delay":
            time.sleep(fault.argument or 1.0)
        else:
            raise InjectedFault(f"fault injected at {point}")

    def _outage(self, point: str, fault: Fault) -> None:
        if fault.on_hit is not None and self.hits[point] < fault.on_hit:
            return
        now = time.monotonic()
        ends = self.outage_ends.setdefault(point, now + (fault.argument or 5.0))
        if now < ends:
            raise InjectedOutage(f"outage injected at {point} for {ends - now:.1f}s more")


# Nothing armed until the process's entry point says so (`arm(settings.faults)`); importing this
# module reads no environment.
_armed = FaultPlan()


def arm(spec: str) -> FaultPlan:
    """Arm this process's fault points from a spec (the settings' `faults`, FLEET_FAULTS); "" disarms."""
    global _armed
    _armed = FaultPlan.parse(spec)
    return _armed


def fault_point(point: str) -> None:
    """Do what the armed plan says for `point`; nothing at all when it is not named there."""
    _armed.hit(point)
