"""Named fault-injection points, off unless FLEET_FAULTS names them (tests and `make chaos` only).

    FLEET_FAULTS="planning.outbox.after_publish:kill,context.projection.before_commit:raise"

Actions: `kill` (SIGKILL this process: a crash, nothing flushed), `raise` (an exception where the
point is), `delay=SECONDS`. A point may be limited to its Nth hit with `@N`, e.g. `...:kill@3`.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass


class InjectedFault(RuntimeError):
    pass


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


def fault_point(point: str) -> None:
    """Do what FLEET_FAULTS says for `point`; nothing at all when it is not named there."""
    fault = _FAULTS.get(point)
    if fault is None:
        return
    _HITS[point] += 1
    if fault.on_hit is not None and _HITS[point] != fault.on_hit:
        return
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault.action == "delay":
        time.sleep(fault.argument or 1.0)
    else:
        raise InjectedFault(f"fault injected at {point}")
