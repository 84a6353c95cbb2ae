"""The checker's report: one table row per scenario, and RELIABILITY.md with the command and the machine."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from fleet_testing.chaos.scenarios import Result

HEADER = (
    "| scenario | fault injected | faults | API changes | events published | duplicate copies | applied "
    "| duplicated | lost | wrong | poison | dead-lettered | time to drain | result |"
)
RULE = "|" + "---|" * 14


def row(result: Result) -> str:
    f = result.findings
    drain = f"{result.drain_seconds:.1f} s" if result.drain_seconds is not None else "did not drain"
    return (
        f"| {result.scenario.name} | {result.scenario.fault} | {result.faults_injected} "
        f"| {result.changes} | {f.published} "
        f"| {f.duplicate_copies} | {f.applied} | {len(f.duplicated)} | {len(f.lost)} | {len(f.wrong)} "
        f"| {f.poison} | {f.dead_lettered} | {drain} | {'✅' if result.ok else '❌'} |"
    )


def table(results: Sequence[Result]) -> str:
    return "\n".join([HEADER, RULE, *(row(result) for result in results)])


def machine() -> str:
    model = "unknown CPU"
    memory = "unknown memory"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB memory"
                break
    except OSError:
        pass
    nats = "nats-server"
    try:
        from swe_fleet.embedded.nats_server import find_nats_server

        nats = subprocess.run(
            [find_nats_server(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except Exception:  # the report says what it could find
        pass
    return (
        f"{os.cpu_count()} cores ({model}), {memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {nats}"
    )


def notes(results: Sequence[Result]) -> str:
    lines = []
    for result in results:
        detail = "; ".join(result.notes)
        extra = f"{result.unknown_outcomes} API requests lost their answer (settled by reading back)"
        verdict = "" if result.ok else f" — FAILED: {result.findings.summary()}"
        lines.append(f"- **{result.scenario.name}**: {detail + '; ' if detail else ''}{extra}{verdict}")
    return "\n".join(lines)


def write_reliability(
    results: Sequence[Result], path: Path, command: str, suite_seconds: float | None = None
) -> None:
    scenario_seconds = {r.scenario.traffic_seconds for r in results}
    rates = {r.scenario.rate for r in results}
    took = f", in {suite_seconds / 60:.1f} min for the whole suite" if suite_seconds else ""
    text = f"""# Reliability: the fault-injection suite

Produced by `{command}` (what `make chaos` runs once its venv is installed) on
{datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}{took}.

Machine: {machine()}.

Each scenario starts its own fleet of real processes (nats-server, a Valkey-compatible cache server,
and `fleet serve context|planning|orchestrator|sentinel` processes on the embedded Ladybug graph),
drives real planning changes through the Planning HTTP API at {", ".join(f"{r:g}" for r in sorted(rates))}
changes/s for {", ".join(f"{s:g}" for s in sorted(scenario_seconds))} s while it injects its fault, then
waits for the streams to drain and checks every effect (see
`docs/adr/0500-fault-injection-suite-and-fault-model.md` for what the checker proves and what it cannot).
The `agents*` scenarios add two agent-worker processes answering through the stand-in LLM server
(`fleet_testing/stand_in/llm_server.py`, 0.3 s per answer, valid for each kind) with councils of two
agents and one round; there the checker also judges every derivation's end, each task's status, each
deliberation's outcome and winner (graph and orchestrator KV) and each dispatch against the events
that decided them, and counts AGENT_COMMANDS and AGENT_RESPONSES (see
`docs/adr/0503-fault-suite-over-the-agent-path.md`).
The `nats-cluster-*` scenarios run NATS as a JetStream cluster of three nodes on loopback, every stream
and KV bucket at three replicas, every client given all three URLs; their notes say which node was
SIGKILLed, how long the elections took and how soon the restarted node caught up (see
`docs/adr/0504-nats-cluster.md`).

- **faults**: faults the scenario injected (processes SIGKILLed, servers stopped, copies re-published,
  kills fired at armed fault points).
- **API changes**: changes the Planning API accepted (2xx).
- **events published**: distinct valid event ids in PLANNING_EVENTS and ORCHESTRATOR_EVENTS (more
  than the changes: an approval in READY_FOR_PLANNING also moves the story to PLANNED, and the
  Orchestrator publishes a `TaskDerivationFailed` when a story moved back cancels a derivation;
  proposing a decision publishes nothing).
- **duplicate copies**: messages in those streams beyond the first copy of an event id (injected
  re-publishes under another Nats-Msg-Id, which JetStream cannot drop).
- **applied**: published events found in the graph's ledger (`ProjectedEvent`), each exactly once.
- **duplicated / lost / wrong**: effects found more than once or not owed / missing / present but not
  right (a story's state, the orchestrator's phase or derivation, a decision's status), across the
  source (planning's records vs the stream), the graph, the orchestrator's KV, and DEAD_LETTERS.
- **poison / dead-lettered**: poison messages published / DEAD_LETTERS entries grouped by original
  stream and sequence (each must be a poison message with its reason; no valid event).
- **time to drain**: from the end of the traffic to every durable consumer having nothing pending or
  un-acked and the checker passing (it includes the checker's own reading, so it is an upper bound).
  A SIGKILLed consumer's un-acked batch comes back only after its `ack_wait` (10 s for Context's
  durables), which is what the Context SIGKILL scenario's drain time shows; acks lost while
  nats-server restarts do the same, so that scenario's drain time varies from run to run (0.6 s to
  17 s seen here), its counts do not.

{table(results)}

Notes:
{notes(results)}
"""
    path.write_text(text)


def update_reliability(
    results: Sequence[Result],
    path: Path,
    command: str,
    order: Sequence[str],
    suite_seconds: float | None = None,
) -> None:
    """A run of some scenarios only: replace (or add, in catalogue order) their rows and notes in the
    existing RELIABILITY.md, keep every other row, and say below the machine line which rows came from
    which run."""
    text = path.read_text()
    head, _, rest = text.partition(HEADER + "\n" + RULE + "\n")
    table_text, _, notes_text = rest.partition("\nNotes:\n")
    rows = {line.split("|")[1].strip(): line for line in table_text.splitlines() if line.startswith("| ")}
    notes_by_name = {line.split("**")[1]: line for line in notes_text.splitlines() if line.startswith("- **")}
    for result in results:
        rows[result.scenario.name] = row(result)
        notes_by_name[result.scenario.name] = notes([result])
    rank = {name: index for index, name in enumerate(order)}
    names = sorted(rows, key=lambda name: rank.get(name, len(rank)))
    took = f", in {suite_seconds / 60:.1f} min" if suite_seconds else ""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    label = f"Rows {', '.join(r.scenario.name for r in results)}:"
    updated = f"{label} from `{command}` on {when}{took} (a run of those scenarios only).\n"
    body = "\n".join([HEADER, RULE, *(rows[name] for name in names)])
    listed = "\n".join(notes_by_name[name] for name in names if name in notes_by_name)
    path.write_text(f"{_with_update_line(head, label, updated)}{body}\n\nNotes:\n{listed}\n")


def _with_update_line(head: str, label: str, updated: str) -> str:
    """The line saying where some rows came from, right after the machine line (replacing an older one
    about the same rows)."""
    lines = [line for line in head.splitlines(keepends=True) if not line.startswith(label)]
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("Machine:")), len(lines))
    lines[at:at] = ["\n", updated]  # its own paragraph
    text = "".join(lines)
    while "\n\n\n" in text:  # the blank line left where an older one was
        text = text.replace("\n\n\n", "\n\n")
    return text
