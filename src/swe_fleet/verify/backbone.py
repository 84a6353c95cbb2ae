"""`fleet verify`'s backbone rows: streams, durables judged by their live pullers, dead-letter growth.

A durable outlives the processes that pull from it (it has no inactivity limit), so its existence
proves nothing about the service: a durable is ✅ only when a pull request was seen waiting on it.
Every runtime keeps one out whenever it is idle, and a dead process's requests expire within its
fetch wait (at most a couple of seconds), so a few samples tell live services from dead ones.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo, KeyValueConfig, StorageType, StreamInfo
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError

from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DLQ_STREAM, list_dead_letters
from swe_fleet.events.streams import STREAMS
from swe_fleet.verify.expected import expected_consumers
from swe_fleet.verify.report import VerifyReport

VERIFY_BUCKET = "FLEET_VERIFY"  # verify's own memory between runs: where the last run left DEAD_LETTERS
DLQ_MARK = "dead-letters-last-seq"


async def check_streams(report: VerifyReport, js: JetStreamContext, *, replicas: int | None = None) -> None:
    """One row per stream: subjects, file storage, and on a cluster `replicas` copies, each current."""
    for spec in STREAMS:
        expected = f"{', '.join(spec.subjects)}; file storage"
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            report.add("streams", spec.name, expected, "missing", False, "stream not found")
            continue
        except nats.errors.TimeoutError:
            # On a cluster: the stream's or the meta group's leader lost, and no new one yet.
            report.add("streams", spec.name, expected, "no answer", False, "stream info timed out")
            continue
        storage = str(getattr(info.config.storage, "value", info.config.storage))
        subjects = sorted(info.config.subjects or [])
        found = (
            f"{', '.join(subjects)}; {storage} storage; R{info.config.num_replicas or 1}; "
            f"{info.state.messages} messages"
        )
        problems = []
        if subjects != sorted(spec.subjects):
            problems.append(f"subjects {subjects} instead of {list(spec.subjects)}")
        if storage != "file":
            problems.append(f"{storage} storage loses events on restart")
        problems += _replica_problems(info, replicas)
        report.add("streams", spec.name, expected, found, not problems, "; ".join(problems))


def _replica_problems(info: StreamInfo, wanted: int | None) -> list[str]:
    problems = []
    have = info.config.num_replicas or 1
    if wanted is not None and have != wanted:
        problems.append(
            f"R{have} instead of R{wanted} (FLEET_NATS_REPLICAS): `fleet streams ensure` moves it"
        )
    peers = info.cluster.replicas if info.cluster is not None else None
    for peer in peers or []:
        if peer.offline or not peer.current:
            problems.append(f"replica on {peer.name} is {'offline' if peer.offline else 'behind'}")
    if have > 1 and (info.cluster is None or not info.cluster.leader):
        problems.append("no leader: the stream accepts no publish until one is elected")
    return problems


@dataclass
class _Durable:
    service: str
    spec: ConsumerSpec
    info: ConsumerInfo
    pullers: int = 0


async def check_consumers(report: VerifyReport, js: JetStreamContext, *, window_seconds: float) -> None:
    """One row per expected durable: present, configured as declared, and with a live puller."""
    present: list[_Durable] = []
    for service, spec in expected_consumers():
        try:
            present.append(_Durable(service, spec, await js.consumer_info(spec.stream, spec.durable)))
        except NotFoundError:
            reason = f"durable not found on {spec.stream}: is the {service} service running?"
            report.add("consumers", spec.durable, _expected(service, spec), "missing", False, reason)
    await _sample_pullers(js, present, window_seconds)
    for durable in present:
        _consumer_row(report, durable, window_seconds)


def _expected(service: str, spec: ConsumerSpec) -> str:
    return f"{service}: {spec.filter_subject} on {spec.stream}, a live puller"


async def _sample_pullers(js: JetStreamContext, durables: list[_Durable], window_seconds: float) -> None:
    """The most pull requests seen waiting on each durable over the window (stops once all have one)."""
    deadline = time.monotonic() + window_seconds
    while True:
        for durable in durables:
            durable.pullers = max(durable.pullers, int(durable.info.num_waiting or 0))
        unseen = [durable for durable in durables if durable.pullers == 0]
        if not unseen or time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.25)
        for durable in unseen:
            try:
                durable.info = await js.consumer_info(durable.spec.stream, durable.spec.durable)
            except NotFoundError:
                continue


def _consumer_row(report: VerifyReport, durable: _Durable, window_seconds: float) -> None:
    info, spec = durable.info, durable.spec
    found = (
        f"pullers {durable.pullers}, pending {info.num_pending}, ack pending {info.num_ack_pending}, "
        f"redelivered {info.num_redelivered}"
    )
    problems = []
    filter_subject = info.config.filter_subject or ">"
    if filter_subject != spec.filter_subject:
        problems.append(f"filter {filter_subject} instead of {spec.filter_subject}")
    ack_policy = info.config.ack_policy
    if ack_policy and str(getattr(ack_policy, "value", ack_policy)) != "explicit":
        problems.append("ack policy is not explicit")
    if durable.pullers == 0:
        busy = f" ({info.num_ack_pending} un-acked: busy or dead)" if info.num_ack_pending else ""
        problems.append(
            f"no process pulled from it for {window_seconds:.0f}s{busy}: is the {durable.service} "
            "service running?"
        )
    report.add(
        "consumers", spec.durable, _expected(durable.service, spec), found, not problems, "; ".join(problems)
    )


async def check_dead_letter_growth(report: VerifyReport, js: JetStreamContext) -> None:
    """❌ when DEAD_LETTERS grew since the last run of verify (the first run records where it is)."""
    name, expected = "dead letters since the last run", "no new dead letters"
    try:
        last_seq = (await js.stream_info(DLQ_STREAM)).state.last_seq
        kv = await _verify_bucket(js)
        try:
            entry = await kv.get(DLQ_MARK)
            previous: int | None = int((entry.value or b"0").decode())
        except KeyNotFoundError:
            previous = None
        await kv.put(DLQ_MARK, str(last_seq).encode())
    except Exception as error:
        report.add("streams", name, expected, "-", False, f"cannot read {DLQ_STREAM}: {error!r}")
        return
    if previous is None:
        report.add("streams", name, expected, f"first run: {DLQ_STREAM} at seq {last_seq} recorded", True)
        return
    new = max(0, last_seq - previous)
    if new == 0:
        report.add("streams", name, expected, f"0 new (seq {last_seq})", True)
        return
    letters = await list_dead_letters(js, start_seq=previous + 1, limit=5)
    examples = "; ".join(f"{letter.original_subject} ({letter.reason})" for letter in letters)
    reason = f"{new} new dead letter(s) since the last verify, e.g. {examples}: see `fleet dlq ls`"
    report.add("streams", name, expected, f"{new} new", False, reason)


async def _verify_bucket(js: JetStreamContext):
    try:
        return await js.key_value(VERIFY_BUCKET)
    except BucketNotFoundError:
        config = KeyValueConfig(bucket=VERIFY_BUCKET, history=1, storage=StorageType.FILE)
        return await js.create_key_value(config)
