"""A task waiting for the PO: approval ids, the parked record, and resuming on the verdict (ADR 0612)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.events.envelope import Envelope, encode_event
from swe_fleet.events.payloads import ApprovalDecided, Role, TaskDispatched
from swe_fleet.workspace.app.approvals import ApprovalResumer, Dispatch
from swe_fleet.workspace.domain.approvals import (
    MAX_APPROVALS_PER_TASK,
    Approval,
    ApprovalConflict,
    ApprovalStatus,
    ParkedTask,
    approval_id,
)

PIP = ("pip", "install", "requests")


def approval(argv: tuple[str, ...] = PIP, task: str = "T-1") -> Approval:
    return Approval(approval_id=approval_id(task, argv), command=" ".join(argv), reason="needs approval")


def parked(*approvals: Approval, dispatch: str = "{}") -> ParkedTask:
    record = ParkedTask(task_id="T-1", story_id="US-1")
    for each in approvals:
        record = record.asking(each, dispatch)
    return record


@given(st.text(min_size=1, max_size=30), st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=4))
def test_an_approval_id_is_the_same_for_the_same_task_and_command_and_a_valid_event_id(task, argv) -> None:
    first = approval_id(task, tuple(argv))
    assert first == approval_id(task, tuple(argv))
    assert first.startswith("APR-") and len(first) == 28
    assert first != approval_id(task + "x", tuple(argv))
    assert first != approval_id(task, (*argv, "--upgrade"))


def test_a_parked_task_waits_until_every_approval_is_decided_and_then_knows_each_verdict() -> None:
    other = approval(("npm", "install", "left-pad"))
    record = parked(approval(), other)
    assert [a.command for a in record.pending()] == ["pip install requests", "npm install left-pad"]
    assert record.verdicts() == {}

    record = record.deciding(approval().approval_id, True, "ok for the parser", "po")
    assert [a.command for a in record.pending()] == ["npm install left-pad"]
    record = record.deciding(other.approval_id, False, "no new JS deps", "po")
    assert record.pending() == []
    verdicts = record.verdicts()
    assert (
        verdicts["pip install requests"].approved
        and verdicts["pip install requests"].reason == "ok for the parser"
    )
    assert not verdicts["npm install left-pad"].approved
    assert record.approvals[other.approval_id].status is ApprovalStatus.REFUSED


def test_a_verdict_is_recorded_once_the_same_again_is_a_no_op_a_contrary_one_is_refused() -> None:
    record = parked(approval()).deciding(approval().approval_id, True, "fine", "po")
    assert record.deciding(approval().approval_id, True, "fine again", "po") is record
    with pytest.raises(ApprovalConflict, match="already approved"):
        record.deciding(approval().approval_id, False, "changed my mind", "po")
    with pytest.raises(KeyError):
        record.deciding("APR-0000", True, "unknown", "po")


def test_asking_again_keeps_the_verdict_given_and_a_task_may_ask_only_so_often() -> None:
    record = parked(approval()).deciding(approval().approval_id, False, "no", "po")
    again = record.asking(approval(), "{}")
    assert again.approvals[approval().approval_id].status is ApprovalStatus.REFUSED
    many = parked(*(approval(("pip", "install", f"p{i}")) for i in range(MAX_APPROVALS_PER_TASK - 1)))
    assert many.may_ask_more
    assert not many.asking(approval(("pip", "install", "last")), "{}").may_ask_more


# ------------------------------------------------------------------ resuming on the verdict


class MemoryStore:
    """The ApprovalStore port in memory (the KV adapter is exercised by the end-to-end test)."""

    def __init__(self) -> None:
        self.records: dict[str, ParkedTask] = {}

    async def get(self, task_id: str) -> ParkedTask | None:
        return self.records.get(task_id)

    async def change(
        self, task_id: str, change: Callable[[ParkedTask | None], ParkedTask | None]
    ) -> ParkedTask | None:
        changed = change(self.records.get(task_id))
        if changed is not None:
            self.records[task_id] = changed
        return self.records.get(task_id)


def dispatch_text() -> str:
    payload = TaskDispatched(
        task_id="T-1", story_id="US-1", role=Role.DEV, agent_id="dev-1", deliberation_id="D-1"
    )
    return encode_event(
        Envelope.new("orchestration.task.dispatched", payload, producer="orchestrator")
    ).decode()


def verdict(record: Approval, approved: bool) -> ApprovalDecided:
    return ApprovalDecided(
        approval_id=record.approval_id,
        task_id="T-1",
        story_id="US-1",
        approved=approved,
        reason="because",
        decided_by="po",
    )


async def test_the_task_is_carried_out_again_from_its_dispatch_once_nothing_is_pending() -> None:
    store, carried = MemoryStore(), []

    async def carry_out(dispatch: Dispatch) -> None:
        carried.append(dispatch)

    first, second = approval(), approval(("apt-get", "install", "jq"))
    store.records["T-1"] = parked(first, second, dispatch=dispatch_text())
    resumer = ApprovalResumer(store, carry_out)

    await resumer.resume(verdict(first, True))
    assert carried == []  # the second approval is still awaited
    await resumer.resume(verdict(second, False), num_delivered=2)
    [dispatch] = carried
    assert dispatch.payload.task_id == "T-1" and dispatch.num_delivered == 2
    assert store.records["T-1"].verdicts()["apt-get install jq"].approved is False

    # The verdict redelivered (the worker died while carrying the task out): carried out again; the
    # executor's ledger gives the task one result whatever the number of attempts.
    await resumer.resume(verdict(second, False))
    assert len(carried) == 2


async def test_verdicts_for_tasks_not_parked_here_or_contrary_to_the_record_carry_nothing_out() -> None:
    store, carried = MemoryStore(), []

    async def carry_out(dispatch: Dispatch) -> None:
        carried.append(dispatch)

    resumer = ApprovalResumer(store, carry_out)
    await resumer.resume(verdict(approval(), True))  # no such task
    store.records["T-1"] = parked(approval(), dispatch=dispatch_text()).deciding(
        approval().approval_id, True, "yes", "po"
    )
    await resumer.resume(verdict(approval(("pip", "install", "other")), True))  # not one of its approvals
    await resumer.resume(verdict(approval(), False))  # contrary to the verdict recorded
    assert carried == []
    assert store.records["T-1"].verdicts()["pip install requests"].approved


async def test_a_task_is_carried_out_once_at_a_time_in_a_worker() -> None:
    import asyncio

    from swe_fleet.errors import TransientError
    from swe_fleet.workspace.app.executor import TaskExecutor

    class SlowLedger:
        def __init__(self) -> None:
            self.release = asyncio.Event()
            self.asked = 0

        async def get(self, task_id: str) -> bytes | None:
            self.asked += 1
            await self.release.wait()
            raise RuntimeError("stopped here")

    ledger = SlowLedger()
    executor = TaskExecutor(  # only the ledger is reached before the test stops it
        source=None,
        workspaces=None,
        ledger=ledger,
        publisher=None,
        sandbox=None,  # type: ignore[arg-type]
        policies=None,
        model_for=None,
        redact=str,  # type: ignore[arg-type]
    )
    envelope = Envelope.new(
        "orchestration.task.dispatched",
        TaskDispatched(
            task_id="T-1", story_id="US-1", role=Role.DEV, agent_id="dev-1", deliberation_id="D-1"
        ),
        producer="orchestrator",
    )
    dispatch = Dispatch(envelope, envelope.payload)  # type: ignore[arg-type]
    first = asyncio.create_task(executor.carry_out(dispatch))
    while ledger.asked == 0:
        await asyncio.sleep(0)
    with pytest.raises(TransientError, match="being carried out here already"):
        await executor.carry_out(dispatch)
    ledger.release.set()
    with pytest.raises(RuntimeError):
        await first
    with pytest.raises(RuntimeError):  # free again: this one reaches the ledger
        await executor.carry_out(dispatch)
    assert ledger.asked == 2
