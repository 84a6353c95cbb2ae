"""The verification report: rows that are ✅ or ❌ with a reason, and the seed report's metrics table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Row:
    section: str  # connections, readiness, streams, consumers, probe
    name: str
    expected: str
    found: str
    ok: bool
    reason: str = ""

    @property
    def mark(self) -> str:
        return "✅" if self.ok else "❌"


@dataclass(frozen=True)
class Metric:
    name: str
    value: str
    ok: bool
    reason: str = ""


@dataclass
class VerifyReport:
    target: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)

    def add(self, section: str, name: str, expected: str, found: str, ok: bool, reason: str = "") -> Row:
        row = Row(section, name, expected, found, ok, reason)
        self.rows.append(row)
        return row

    def section(self, name: str) -> list[Row]:
        return [row for row in self.rows if row.section == name]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows) and all(metric.ok for metric in self.metrics)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "target": self.target,
            "rows": [asdict(row) for row in self.rows],
            "metrics": [asdict(metric) for metric in self.metrics],
        }


def summarise(
    report: VerifyReport, *, published: int, processed: tuple[int, int], graph: tuple[int, int]
) -> None:
    """The field report's metrics table, computed from the rows (a row ❌ makes its metric ❌)."""

    def count(section: str) -> tuple[int, int]:
        rows = report.section(section)
        return sum(row.ok for row in rows), len(rows)

    def metric(name: str, value: tuple[int, int], unit: str = "") -> None:
        good, total = value
        ok = total > 0 and good == total
        reason = "" if ok else ("nothing to check" if total == 0 else f"{total - good} of {total} missing")
        report.metrics.append(Metric(name, f"{good}/{total}{unit}", ok, reason))

    metric("Connections", count("connections"))
    metric("Streams created", count("streams"))
    metric("Consumers created", count("consumers"))
    report.metrics.append(
        Metric(
            "Events published (probe)",
            str(published),
            published > 0,
            "" if published > 0 else "the probe published nothing",
        )
    )
    metric("Events processed (probe events x consumers)", processed)
    metric("Graph nodes (probe)", graph)
    agent_path = [row for row in report.section("probe") if row.name.startswith("agent path")]
    metric("Agent path (probe)", (sum(row.ok for row in agent_path), len(agent_path)))
    if report.section("readiness"):
        metric("Service checks ready", count("readiness"))
