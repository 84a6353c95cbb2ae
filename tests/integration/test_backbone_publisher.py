"""The publisher against a real nats-server: acked, retried after timeouts, never duplicated."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from swe_fleet.backbone.publisher import EventPublisher, PublishFailed
from swe_fleet.events.payloads import PlanApproved

SUBJECT = "planning.plan.approved"


def approval(n: int) -> PlanApproved:
    return PlanApproved(story_id=f"US-{n}", plan_id=f"plan-{n}", approved_by="po")


async def test_publish_waits_for_the_ack_and_sends_event_id_as_msg_id(js) -> None:
    publisher = EventPublisher(js, "test")
    envelope = publisher.envelope(SUBJECT, approval(1))
    ack = await publisher.publish_envelope(envelope)
    assert ack.stream == "PLANNING_EVENTS" and not ack.duplicate
    stored = await js.get_msg("PLANNING_EVENTS", ack.seq)
    assert stored.headers["Nats-Msg-Id"] == envelope.event_id
    again = await publisher.publish_envelope(envelope)
    assert again.duplicate and again.seq == ack.seq


@pytest.mark.private_nats  # it pauses or restarts the server
async def test_publish_retried_after_a_timeout_leaves_one_message(js, nats_server) -> None:
    """The server stalls (SIGSTOP) after receiving the publish: the client times out and retries;
    when the server resumes it stores the first copy and drops the retry as a duplicate."""
    publisher = EventPublisher(js, "test", ack_timeout=0.5, max_attempts=10, first_backoff=0.2)
    assert js._nc.connected_url.port == nats_server.port  # the server this test pauses is the one it uses
    pid = nats_server.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await stopped(pid)
        publishing = asyncio.create_task(publisher.publish(SUBJECT, approval(2)))
        await asyncio.sleep(1.6)  # at least two attempts time out while the server is stopped
        assert not publishing.done()
    finally:
        os.kill(pid, signal.SIGCONT)
    ack = await asyncio.wait_for(publishing, 30)
    info = await js.stream_info("PLANNING_EVENTS")
    assert info.state.messages == 1
    assert ack.seq == info.state.last_seq


async def stopped(pid: int) -> None:
    """Until the kernel shows the process stopped (state T): the signal is not instant for every thread."""
    for _ in range(100):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":  # noqa: ASYNC240
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nats-server {pid} did not stop after SIGSTOP")


async def test_publish_gives_up_with_a_clear_error_when_no_stream_listens(nc) -> None:
    publisher = EventPublisher(nc.jetstream(), "test", ack_timeout=0.2, max_attempts=2, first_backoff=0.01)
    with pytest.raises(PublishFailed, match="after 2 attempts"):
        await publisher.publish(SUBJECT, approval(3))  # no streams were provisioned
