"""The checks `fleet verify` runs: connections, streams, durable consumers, then a probe through the flow.

Every check reads the deployment as it is (NATS directly, the services through their HTTP APIs) and
changes nothing but the probe's own, labelled data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from swe_fleet.backbone.connection import NatsUnavailable, connect
from swe_fleet.events.probes import PROBE_PREFIX
from swe_fleet.events.streams import STREAMS, subject_matches
from swe_fleet.security.client_token import bearer_headers, client_token
from swe_fleet.settings import FleetSettings
from swe_fleet.verify.expected import expected_consumers
from swe_fleet.verify.report import VerifyReport, summarise

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


async def verify(
    settings: FleetSettings,
    *,
    deadline_seconds: float = 90.0,
    probe: bool = True,
    progress: Progress | None = None,
) -> VerifyReport:
    say = progress or (lambda message: None)
    report = VerifyReport(
        target={
            "nats": settings.resolved_nats_url,
            "planning_api": settings.resolved_planning_url,
            "context_api": settings.resolved_context_url,
            "graph": settings.graph_url or "(as the context service has it)",
            "valkey": settings.valkey_url or "(as the context service has it)",
            "llm": settings.llm_url or "(as the agent workers have it)",
        }
    )
    # The PO's token (FLEET_TOKEN, FLEET_TOKEN_FILE or the embedded fleet's file): the probe makes changes.
    async with httpx.AsyncClient(timeout=10.0, headers=bearer_headers(client_token(settings))) as http:
        say("connections")
        nc = await _check_connections(report, settings, http)
        try:
            if nc is None:
                for spec in STREAMS:
                    report.add("streams", spec.name, "file storage", "-", False, "NATS unreachable")
                for service, consumer in expected_consumers():
                    report.add(
                        "consumers",
                        consumer.durable,
                        f"{service}: {consumer.filter_subject}",
                        "-",
                        False,
                        "NATS unreachable",
                    )
                summarise(report, published=0, processed=(0, 0), graph=(0, 0))
                return report
            js = nc.jetstream()
            say("streams")
            await _check_streams(report, js)
            say("consumers")
            await _check_consumers(report, js)
            published, processed, graph = 0, (0, 0), (0, 0)
            planning_ok = any(r.ok for r in report.section("connections") if r.name == "planning api")
            if probe and planning_ok:
                say("probe")
                published, processed, graph = await Probe(report, settings, js, http, say).run(
                    deadline_seconds
                )
            elif probe:
                report.add(
                    "probe",
                    "probe story",
                    "driven through plan approval",
                    "-",
                    False,
                    "the planning API is unreachable",
                )
            summarise(report, published=published, processed=processed, graph=graph)
            return report
        finally:
            if nc is not None:
                await nc.close()


# ------------------------------------------------------------------ connections


async def _get_json(http: httpx.AsyncClient, url: str) -> tuple[int | None, Any, str]:
    try:
        response = await http.get(url)
    except httpx.HTTPError as error:
        return None, None, f"{type(error).__name__}: {error}".rstrip(": ")
    with contextlib.suppress(ValueError):
        return response.status_code, response.json(), ""
    return response.status_code, None, response.text[:200]


async def _check_connections(report: VerifyReport, s: FleetSettings, http: httpx.AsyncClient) -> NATS | None:
    nc = None
    try:
        nc = await connect(s.resolved_nats_url, "fleet-verify", wait_seconds=3)
        version = nc.connected_server_version
        account = await nc.jetstream().account_info()
        report.add(
            "connections",
            "nats",
            s.resolved_nats_url,
            f"nats-server {version.major}.{version.minor}.{version.patch}, "
            f"JetStream ({account.streams} streams)",
            True,
        )
    except NatsUnavailable as error:
        report.add("connections", "nats", s.resolved_nats_url, "-", False, str(error))
        nc = None
    except Exception as error:  # connected, but JetStream does not answer
        report.add(
            "connections",
            "nats",
            s.resolved_nats_url,
            "connected",
            False,
            f"JetStream unavailable: {error!r}",
        )
        if nc is not None:
            await nc.close()
        nc = None

    status, _, detail = await _get_json(http, f"{s.resolved_planning_url}/healthz")
    report.add(
        "connections",
        "planning api",
        s.resolved_planning_url,
        f"HTTP {status}" if status else "-",
        status == 200,
        detail or ("" if status == 200 else f"answered {status}"),
    )

    status, body, detail = await _get_json(http, f"{s.resolved_context_url}/readyz")
    checks: dict[str, dict[str, str]] = (body or {}).get("checks", {}) if isinstance(body, dict) else {}
    context_reached = status is not None

    def from_readyz(part: str, names: tuple[str, ...], expected: str) -> None:
        found = next((checks[name] for name in names if name in checks), None)
        if not context_reached:
            report.add("connections", part, expected, "-", False, f"context API unreachable: {detail}")
        elif found is None:
            report.add(
                "connections",
                part,
                expected,
                "-",
                False,
                f"no service reports its {part} ({', '.join(names)})",
            )
        else:
            ok = found.get("status") == "ok"
            report.add(
                "connections",
                part,
                expected,
                f"{found.get('status')}: {found.get('detail', '')}",
                ok,
                "" if ok else f"{part} is {found.get('status')}: {found.get('detail', '')}",
            )

    from_readyz("graph", ("context.graph",), s.graph_url or "the context service's graph")
    if s.valkey_url:
        await _check_valkey(report, s.valkey_url)
    else:
        from_readyz("valkey", ("context.cache",), "the context service's cache")
    if s.llm_url:
        await _check_llm(report, http, s.llm_url)
    else:
        from_readyz("llm", ("agent-worker.llm", "agents.llm"), "the agent workers' LLM")
    return nc


async def _check_valkey(report: VerifyReport, url: str) -> None:
    import valkey.asyncio as valkey

    client = valkey.Valkey.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        pong = await client.ping()
        report.add("connections", "valkey", url, "PONG" if pong else str(pong), bool(pong))
    except Exception as error:
        report.add("connections", "valkey", url, "-", False, f"{type(error).__name__}: {error}")
    finally:
        await client.aclose()


async def _check_llm(report: VerifyReport, http: httpx.AsyncClient, url: str) -> None:
    status, body, detail = await _get_json(http, f"{url.rstrip('/')}/v1/models")
    models = [m.get("id") for m in (body or {}).get("data", [])] if isinstance(body, dict) else []
    ok = status == 200
    report.add(
        "connections",
        "llm",
        url,
        ", ".join(filter(None, models)) or (f"HTTP {status}" if status else "-"),
        ok,
        "" if ok else (detail or f"answered {status}"),
    )


# ------------------------------------------------------------------ streams and consumers


async def _check_streams(report: VerifyReport, js: JetStreamContext) -> None:
    for spec in STREAMS:
        expected = f"{', '.join(spec.subjects)}; file storage"
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            report.add("streams", spec.name, expected, "missing", False, "stream not found")
            continue
        storage = str(getattr(info.config.storage, "value", info.config.storage))
        subjects = sorted(info.config.subjects or [])
        found = f"{', '.join(subjects)}; {storage} storage; {info.state.messages} messages"
        problems = []
        if subjects != sorted(spec.subjects):
            problems.append(f"subjects {subjects} instead of {list(spec.subjects)}")
        if storage != "file":
            problems.append(f"{storage} storage loses events on restart")
        report.add("streams", spec.name, expected, found, not problems, "; ".join(problems))


async def _check_consumers(report: VerifyReport, js: JetStreamContext) -> None:
    for service, spec in expected_consumers():
        expected = f"{service}: {spec.filter_subject} on {spec.stream}"
        try:
            info = await js.consumer_info(spec.stream, spec.durable)
        except NotFoundError:
            report.add(
                "consumers",
                spec.durable,
                expected,
                "missing",
                False,
                f"durable not found on {spec.stream}: is the {service} service running?",
            )
            continue
        filter_subject = info.config.filter_subject or ">"
        found = (
            f"pending {info.num_pending}, ack pending {info.num_ack_pending}, "
            f"redelivered {info.num_redelivered}, pulling {info.num_waiting}"
        )
        problems = []
        if filter_subject != spec.filter_subject:
            problems.append(f"filter {filter_subject} instead of {spec.filter_subject}")
        if (
            info.config.ack_policy
            and str(getattr(info.config.ack_policy, "value", info.config.ack_policy)) != "explicit"
        ):
            problems.append("ack policy is not explicit")
        report.add("consumers", spec.durable, expected, found, not problems, "; ".join(problems))


# ------------------------------------------------------------------ the probe


class Probe:
    """A probe story driven through plan approval via the planning API, plus a plan approval
    published by hand as bare JSON (as the field report did), then followed into the graph."""

    def __init__(
        self,
        report: VerifyReport,
        s: FleetSettings,
        js: JetStreamContext,
        http: httpx.AsyncClient,
        say: Progress,
    ) -> None:
        from ulid import ULID

        token = str(ULID()).lower()
        self.report, self.s, self.js, self.http, self.say = report, s, js, http, say
        self.project, self.epic = f"{PROBE_PREFIX}project-{token}", f"{PROBE_PREFIX}epic-{token}"
        self.story, self.plan = f"{PROBE_PREFIX}story-{token}", f"{PROBE_PREFIX}plan-{token}"
        self.hand_story, self.hand_plan = (
            f"{PROBE_PREFIX}story-bare-{token}",
            f"{PROBE_PREFIX}plan-bare-{token}",
        )

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        response = await self.http.post(f"{self.s.resolved_planning_url}/v1{path}", json=body)
        if response.status_code >= 300:
            raise ProbeFailed(f"POST /v1{path} answered {response.status_code}: {response.text[:200]}")

    async def _query(self, cypher: str, params: dict[str, Any]) -> list[dict[str, Any]] | None:
        try:
            response = await self.http.post(
                f"{self.s.resolved_context_url}/v1/graph/query",
                json={"cypher": cypher, "params": params},
                timeout=3.0,  # a stalled context service must not eat the deadline of every check
            )
        except httpx.HTTPError:
            return None
        return response.json().get("rows") if response.status_code == 200 else None

    async def run(self, deadline_seconds: float) -> tuple[int, tuple[int, int], tuple[int, int]]:
        deadline = time.monotonic() + deadline_seconds
        start_seq = (await self.js.stream_info("PLANNING_EVENTS")).state.last_seq
        by = "fleet-verify"
        try:
            await self._post(
                "/projects",
                {
                    "id": self.project,
                    "name": "fleet verify probe",
                    "description": "Probe data written by `fleet verify`",
                },
            )
            await self._post("/epics", {"id": self.epic, "project_id": self.project, "title": "probe"})
            await self._post(
                "/stories",
                {
                    "id": self.story,
                    "epic_id": self.epic,
                    "title": "fleet verify probe story",
                    "owner": by,
                    "acceptance_criteria": ["the probe reaches the graph"],
                },
            )
            for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
                await self._post(f"/stories/{self.story}/transitions", {"to_state": state})
            await self._post(
                f"/stories/{self.story}/plans",
                {
                    "id": self.plan,
                    "description": "probe plan",
                    "acceptance_criteria": ["approved"],
                },
            )
            await self._post(f"/plans/{self.plan}/approve", {"notes": "probe"})
        except (ProbeFailed, httpx.HTTPError) as error:
            self.report.add(
                "probe",
                "probe story through plan approval",
                "accepted by the planning API",
                "-",
                False,
                str(error),
            )
            return 0, (0, 0), (0, 0)
        self.report.add(
            "probe",
            "probe story through plan approval",
            "accepted by the planning API",
            f"story {self.story}",
            True,
        )
        # The field report's test: a plan approval published by hand as bare JSON.
        bare = {"story_id": self.hand_story, "plan_id": self.hand_plan, "approved_by": by}
        await self.js.publish("planning.plan.approved", json.dumps(bare).encode())

        self.say("probe: waiting for the events")
        # project, epic, story, 2 transitions, plan created, plan approved, the move to PLANNED that
        # the approval makes, and the bare approval
        expected_events = 9
        probe_seqs = await self._until(
            deadline, lambda: self._probe_messages(start_seq), lambda found: len(found) >= expected_events
        )
        probe_seqs = probe_seqs or {}
        published = len(probe_seqs)
        self.report.add(
            "probe",
            "probe events in PLANNING_EVENTS",
            f"{expected_events} events",
            f"{published} events",
            published >= expected_events,
            "" if published >= expected_events else "the planning outbox did not publish them in time",
        )

        self.say("probe: waiting for the graph")
        graph_checks = [
            (
                "PlanApproval via the API",
                "MATCH (a:PlanApproval)-[:APPROVES]->(p:Plan {id: $plan}) RETURN count(a) AS n",
                {"plan": self.plan},
                1,
            ),
            (
                "PlanApproval from bare JSON",
                "MATCH (a:PlanApproval)-[:APPROVES]->(p:Plan {id: $plan}) RETURN count(a) AS n",
                {"plan": self.hand_plan},
                1,
            ),
            (
                "PhaseTransitions",
                "MATCH (s:Story {id: $story})-[:HAS_TRANSITION]->(t:PhaseTransition) RETURN count(t) AS n",
                {"story": self.story},
                # As many as planning published for the probe story (plan approval moves it on, too).
                sum(1 for subject in probe_seqs.values() if subject == "planning.story.transitioned"),
            ),
            (
                "Story in its project",
                "MATCH (:Project {id: $project})-[:CONTAINS]->(:Epic)-[:CONTAINS]->(s:Story {id: $story}) "
                "RETURN count(s) AS n",
                {"project": self.project, "story": self.story},
                1,
            ),
        ]
        graph_good = 0
        for name, cypher, params, want in graph_checks:
            rows = await self._until(
                deadline,
                lambda c=cypher, p=params: self._query(c, p),
                lambda rows, w=want: bool(rows) and rows[0].get("n") == w,
            )
            got = rows[0].get("n") if rows else None
            ok = got == want
            graph_good += ok
            self.report.add(
                "probe",
                f"graph: {name}",
                f"{want} node(s)",
                "-" if got is None else f"{got}",
                ok,
                "" if ok else "not in the graph before the deadline (is the context projection running?)",
            )

        self.say("probe: waiting for every consumer")
        processed_good, processed_total = 0, 0
        for service, spec in expected_consumers():
            if spec.stream != "PLANNING_EVENTS":
                continue
            mine = [
                seq for seq, subject in probe_seqs.items() if subject_matches(spec.filter_subject, subject)
            ]
            if not mine:
                continue
            processed_total += len(mine)
            target = max(mine)
            floor = await self._until(
                deadline,
                lambda d=spec.durable: self._ack_floor(d),
                lambda value, t=target: value is not None and value >= t,
            )
            ok = floor is not None and floor >= target
            processed_good += len(mine) if ok else 0
            self.report.add(
                "probe",
                f"processed by {spec.durable}",
                f"{len(mine)} probe event(s) acked",
                f"ack floor {floor}" if floor is not None else "-",
                ok,
                "" if ok else f"the {service} consumer has not acked seq {target} before the deadline",
            )
        return published, (processed_good, processed_total), (graph_good, len(graph_checks))

    async def _probe_messages(self, start_seq: int) -> dict[int, str]:
        info = await self.js.stream_info("PLANNING_EVENTS")
        found: dict[int, str] = {}
        for seq in range(start_seq + 1, min(info.state.last_seq, start_seq + 5000) + 1):
            with contextlib.suppress(NotFoundError):
                message = await self.js.get_msg("PLANNING_EVENTS", seq)
                if (
                    message.data
                    and PROBE_PREFIX.encode() in message.data
                    and (
                        self.story.encode() in message.data
                        or self.hand_story.encode() in message.data
                        or self.project.encode() in message.data
                        or self.epic.encode() in message.data
                    )
                ):
                    found[seq] = message.subject or ""
        return found

    async def _ack_floor(self, durable: str) -> int | None:
        try:
            info = await self.js.consumer_info("PLANNING_EVENTS", durable)
        except NotFoundError:
            return None
        return info.ack_floor.stream_seq if info.ack_floor else 0

    @staticmethod
    async def _until(deadline: float, fetch, done):
        """Poll `fetch` until `done(value)` or the deadline; at least once, however late."""
        value = None
        while True:
            try:
                value = await fetch()
            except Exception as error:  # an unreachable part is a ❌ row, not a crash of verify
                log.debug("verify probe: %r", error)
            else:
                if done(value):
                    return value
            if time.monotonic() >= deadline:
                return value
            await asyncio.sleep(0.3)


class ProbeFailed(Exception):
    pass
