"""`fleet verify` from end to end: connections, streams, live durables, readiness, then the probe.

Every check reads the deployment as it is (NATS directly, the services through their HTTP APIs) and
changes nothing but the probe's own, labelled data and verify's own mark of where DEAD_LETTERS was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx
from nats.js import JetStreamContext

from swe_fleet.events.streams import STREAMS
from swe_fleet.security.client_token import bearer_headers, client_token
from swe_fleet.settings import FleetSettings
from swe_fleet.verify.backbone import check_consumers, check_dead_letter_growth, check_streams
from swe_fleet.verify.connections import check_connections
from swe_fleet.verify.expected import expected_consumers
from swe_fleet.verify.probe import Probe
from swe_fleet.verify.readiness import check_readiness, readiness_urls
from swe_fleet.verify.report import VerifyReport, summarise

Progress = Callable[[str], None]


async def verify(
    settings: FleetSettings,
    *,
    deadline_seconds: float = 90.0,
    probe: bool = True,
    progress: Progress | None = None,
    ready_urls: Sequence[str] = (),
    liveness_seconds: float = 3.0,
) -> VerifyReport:
    say = progress or (lambda message: None)
    report = VerifyReport(target=_target(settings))
    # The PO's token (FLEET_TOKEN, FLEET_TOKEN_FILE or the embedded fleet's file): the probe makes changes.
    async with httpx.AsyncClient(timeout=10.0, headers=bearer_headers(client_token(settings))) as http:
        say("connections")
        nc = await check_connections(report, settings, http)
        say("readiness")
        urls = readiness_urls(settings.resolved_planning_url, settings.resolved_context_url, extra=ready_urls)
        await check_readiness(report, http, urls)
        if nc is None:
            _unreachable(report)
            return report
        try:
            js = nc.jetstream()
            say("streams and consumers")
            await check_streams(report, js, replicas=settings.resolved_nats_replicas)
            await check_consumers(report, js, window_seconds=liveness_seconds)
            published, processed, graph = 0, (0, 0), (0, 0)
            if probe:
                say("probe")
                published, processed, graph = await _probe(report, settings, js, http, say, deadline_seconds)
            await check_dead_letter_growth(report, js)
            summarise(report, published=published, processed=processed, graph=graph)
            return report
        finally:
            await nc.close()


def _target(s: FleetSettings) -> dict[str, str]:
    return {
        "nats": s.resolved_nats_url,
        "planning_api": s.resolved_planning_url,
        "context_api": s.resolved_context_url,
        "graph": s.graph_url or "(as the context service has it)",
        "valkey": s.valkey_url or "(as the context service has it)",
        "llm": s.llm_url or "(as the agent workers have it)",
    }


def _unreachable(report: VerifyReport) -> None:
    for spec in STREAMS:
        report.add("streams", spec.name, "file storage", "-", False, "NATS unreachable")
    for service, consumer in expected_consumers():
        expected = f"{service}: {consumer.filter_subject}"
        report.add("consumers", consumer.durable, expected, "-", False, "NATS unreachable")
    summarise(report, published=0, processed=(0, 0), graph=(0, 0))


async def _probe(
    report: VerifyReport,
    settings: FleetSettings,
    js: JetStreamContext,
    http: httpx.AsyncClient,
    say: Progress,
    deadline_seconds: float,
) -> tuple[int, tuple[int, int], tuple[int, int]]:
    planning_ok = any(row.ok for row in report.section("connections") if row.name == "planning api")
    if planning_ok:
        return await Probe(report, settings, js, http, say).run(deadline_seconds)
    reason = "the planning API is unreachable"
    report.add("probe", "probe story", "driven through plan approval", "-", False, reason)
    return 0, (0, 0), (0, 0)
