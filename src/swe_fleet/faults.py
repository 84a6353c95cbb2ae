"""Named fault-injection points, off unless FLEET_FAULTS names them (tests and `make chaos` only).

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
from dataclasses import dataclass

from swe_fleet.errors import TransientError


class InjectedFault(RuntimeError):
    pass


class InjectedOutage(TransientError):
    """A dependency made unavailable by FLEET_FAULTS: callers retry it like a real outage."""


@dataclass(frozen=True)
class _Fault:
    action: str
    argument: float | None
    on_hit: int | None


def _parse(spec: str) -> dict[str, _Fault]:
    faults: dict[str, _Fault] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point, _, action = item.partition(":")
        action = action or "raise"
        on_hit = None
        if "@" in action:
            action, _, hit = action.partition("@")
            on_hit = int(hit)
        name, _, argument = action.partition("=")
        faults[point] = _Fault(name, float(argument) if argument else None, on_hit)
    return faults


_FAULTS = _parse(os.environ.get("FLEET_FAULTS", ""))
_HITS: Counter[str] = Counter()
_OUTAGE_ENDS: dict[str, float] = {}  # point -> monotonic time its outage ends


def fault_point(point: str) -> None:
    """Do what FLEET_FAULTS says for `point`; nothing at all when it is not named there."""
    fault = _FAULTS.get(point)
    if fault is None:
        return
    _HITS[point] += 1
    if fault.action == "outage":
        _outage(point, fault)
        return
    if fault.on_hit is not None and _HITS[point] != fault.on_hit:
        return
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault.action == "delay":
        time.sleep(fault.argument or 1.0)
    else:
        raise InjectedFault(f"fault injected at {point}")


def _outage(point: str, fault: _Fault) -> None:
    if fault.on_hit is not None and _HITS[point] < fault.on_hit:
        return
    now = time.monotonic()
    ends = _OUTAGE_ENDS.setdefault(point, now + (fault.argument or 5.0))
    if now < ends:
        raise InjectedOutage(f"outage injected at {point} for {ends - now:.1f}s more")
