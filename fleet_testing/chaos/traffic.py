"""The traffic driver: a steady stream of real planning changes through the Planning HTTP API.

Story actors walk stories along the lifecycle (reviews, plans proposed, rejected and approved,
execution, carry-overs and resets to DRAFT, decisions approved or rejected), paced to a target rate
of changes per second across every planning replica. The driver chooses every id, so a change whose
answer was lost (the process died with the request in flight) can be settled by reading it back.

It records what it asked for and what the API answered: `accepted` (2xx), `refused` (4xx, which a
driver that follows the lifecycle should never see except after a lost answer), and `unknown` (no
answer). The truth the checker holds the fleet to is what the Planning API itself reports after the
traffic (its records are the system of record); the driver's accepted changes must all be there.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from swe_fleet.events.payloads import StoryState
from swe_fleet.planning.domain.lifecycle import allowed_targets

log = logging.getLogger(__name__)

S = StoryState
# The walk's preferred next state; the other allowed targets are detours (resets, carry-overs, rework).
FORWARD: dict[StoryState, StoryState] = {
    S.DRAFT: S.PO_REVIEW,
    S.PO_REVIEW: S.READY_FOR_PLANNING,
    S.PLANNED: S.READY_FOR_EXECUTION,
    S.READY_FOR_EXECUTION: S.IN_PROGRESS,
    S.IN_PROGRESS: S.CODE_REVIEW,
    S.CODE_REVIEW: S.TESTING,
    S.TESTING: S.READY_TO_REVIEW,
    S.READY_TO_REVIEW: S.ACCEPTED,
    S.ACCEPTED: S.DONE,
    S.DONE: S.ARCHIVED,
    S.CARRY_OVER: S.READY_FOR_EXECUTION,
}
DETOUR_WEIGHTS: dict[StoryState, float] = {
    S.DRAFT: 0.5,
    S.CARRY_OVER: 0.8,
    S.IN_PROGRESS: 1.0,
    S.ARCHIVED: 0.3,
}
FORWARD_WEIGHT = 12.0

# Answers that mean "the request may or may not have been carried out".
UNCERTAIN = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.TimeoutException)


class NoPlanningReplica(RuntimeError):
    pass


@dataclass
class DriverRecord:
    """What the driver asked and what the API answered, by kind of change."""

    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    unavailable: int = 0  # requests no replica could take (all down): retried, not counted as changes
    # Accepted changes, each as the API confirmed it: ("transition", story, from, to), ("approve", plan)...
    confirmed: list[tuple[str, ...]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    story_ids: list[str] = field(default_factory=list)
    decision_ids: list[str] = field(default_factory=list)
    project_id: str = ""
    epic_id: str = ""
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def changes(self) -> int:
        return sum(self.accepted.values())


class Pacer:
    """At most `rate` changes per second across all actors (a token bucket refilled continuously)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            self._next = max(self._next, now - self._interval)  # no bursts after an idle spell
            delay = self._next - now
            self._next += self._interval
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class _Story:
    id: str
    state: StoryState = S.DRAFT
    version: int = 1
    plans: dict[str, str] = field(default_factory=dict)  # plan id -> status
    plan_count: int = 0
    decision_count: int = 0


class TrafficDriver:
    def __init__(
        self,
        planning_urls: Callable[[], Sequence[str]],
        *,
        run_id: str,
        rate: float = 20.0,
        actors: int = 6,
        seed: int = 7,
        request_timeout: float = 15.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._urls = planning_urls
        self.run_id = run_id
        self.rate = rate
        self.actors = actors
        self.random = random.Random(seed)
        self.record = DriverRecord()
        self._pacer = Pacer(rate)
        self._client = httpx.AsyncClient(timeout=request_timeout, headers=headers)
        self._story_numbers = iter(range(1, 1_000_000))
        self._stop = asyncio.Event()

    async def close(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ HTTP with failover

    async def _request(self, kind: str, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """(status, json) from some live replica; None when the answer was lost (unknown outcome)."""
        deadline = time.monotonic() + 120
        while True:
            urls = list(self._urls())
            self.random.shuffle(urls)
            for url in urls:
                try:
                    response = await self._client.request(method, url + path, json=body, **kwargs)
                except httpx.ConnectError:
                    continue  # refused before anything was sent: safe to try the next replica
                except UNCERTAIN as error:
                    log.info("%s %s: no answer (%r): outcome unknown", method, path, error)
                    return None
                if response.status_code >= 500:
                    log.info(
                        "%s %s: %s %s: outcome unknown", method, path, response.status_code, response.text
                    )
                    return None
                return response.status_code, (response.json() if response.content else None)
            self.record.unavailable += 1
            if time.monotonic() > deadline:
                raise NoPlanningReplica(f"no planning replica answered {method} {path} for 120s")
            await asyncio.sleep(0.3)

    async def _change(self, kind: str, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """A change: paced, and its outcome counted. Returns the JSON on 2xx, None otherwise."""
        await self._pacer.wait()
        answer = await self._request(kind, method, path, body, **kwargs)
        if answer is None:
            self.record.unknown[kind] += 1
            return None
        status, document = answer
        if status < 300:
            self.record.accepted[kind] += 1
            return document
        self.record.refused[kind] += 1
        self.record.refusals.append(f"{kind} {path}: {status} {document}")
        return None

    async def _read(self, path: str) -> tuple[int, Any]:
        while True:  # reads are retried until a replica answers (they change nothing)
            answer = await self._request("read", "GET", path)
            if answer is not None:
                return answer
            await asyncio.sleep(0.3)

    # ------------------------------------------------------------------ the run

    async def setup(self) -> None:
        project_id, epic_id = f"{self.run_id}-PRJ", f"{self.run_id}-EPIC"
        for kind, path, body in (
            ("project", "/v1/projects", {"id": project_id, "name": "chaos"}),
            (
                "epic",
                "/v1/epics",
                {"id": epic_id, "project_id": project_id, "title": "chaos traffic"},
            ),
        ):
            while True:
                answer = await self._request(kind, "POST", path, body)
                if answer is not None and answer[0] in (201, 409):  # 409: created by the lost attempt
                    if answer[0] == 201:
                        self.record.accepted[kind] += 1
                    break
                await asyncio.sleep(0.5)
        self.record.project_id, self.record.epic_id = project_id, epic_id

    async def run(self, seconds: float) -> DriverRecord:
        """Drive traffic for `seconds`; actors stop where they are (stories end in varied states)."""
        self.record.started_at = time.time()
        await self.setup()
        self._stop.clear()
        actors = [asyncio.create_task(self._actor(index)) for index in range(self.actors)]
        try:
            await asyncio.sleep(seconds)
        finally:
            self._stop.set()
            results = await asyncio.gather(*actors, return_exceptions=True)
        self.record.ended_at = time.time()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return self.record

    async def _actor(self, index: int) -> None:
        while not self._stop.is_set():
            story_id = f"{self.run_id}-S{next(self._story_numbers):04d}"
            self.record.story_ids.append(story_id)
            story = await self._create_story(story_id)
            while story is not None and not self._stop.is_set() and story.state is not S.ARCHIVED:
                await self._step(story)

    async def _create_story(self, story_id: str) -> _Story | None:
        body = {
            "id": story_id,
            "title": f"story {story_id}",
            "owner": "po",
            "epic_id": self.record.epic_id,
            "brief": "driven by the chaos suite",
            "acceptance_criteria": ["every effect exactly once"],
        }
        created = await self._change("story", "POST", "/v1/stories", body)
        if created is not None:
            self.record.confirmed.append(("story", story_id))
            return _Story(story_id, S(created["state"]), created["version"])
        return await self._resync(_Story(story_id))

    async def _resync(self, story: _Story) -> _Story | None:
        """After a lost answer or a refusal: read the story back and continue from what is true."""
        status, document = await self._read(f"/v1/stories/{story.id}")
        if status == 404:
            return None
        story.state, story.version = S(document["state"]), document["version"]
        story.plans = {plan["id"]: plan["status"] for plan in document["plans"]}
        return story

    async def _step(self, story: _Story) -> None:
        roll = self.random.random()
        if roll < 0.06:
            await self._decide(story)
            return
        if story.state is S.READY_FOR_PLANNING or (story.state is S.PLANNED and roll < 0.1):
            await self._plan_step(story)
            return
        await self._transition(story, self._next_state(story.state))

    def _next_state(self, state: StoryState) -> StoryState:
        targets = sorted(allowed_targets(state), key=lambda target: target.value)
        forward = FORWARD.get(state)
        weights = [FORWARD_WEIGHT if t is forward else DETOUR_WEIGHTS.get(t, 0.2) for t in targets]
        return self.random.choices(targets, weights)[0]

    async def _transition(self, story: _Story, to_state: StoryState) -> None:
        before = story.state
        moved = await self._change(
            "transition",
            "POST",
            f"/v1/stories/{story.id}/transitions",
            {"to_state": to_state.value},
            headers={"If-Match": f'"{story.version}"'},
        )
        if moved is None:
            await self._resync(story)
            return
        self.record.confirmed.append(("transition", story.id, before.value, to_state.value))
        story.state, story.version = S(moved["state"]), moved["version"]

    async def _plan_step(self, story: _Story) -> None:
        proposed = [plan_id for plan_id, status in story.plans.items() if status == "PROPOSED"]
        if not proposed:
            story.plan_count += 1
            plan_id = f"{story.id}-P{story.plan_count}"
            body = {
                "id": plan_id,
                "description": f"plan {story.plan_count} for {story.id}",
                "acceptance_criteria": ["the checker finds every effect once"],
                "technical_notes": "chaos",
                "roles": ["DEV", "QA"],
            }
            created = await self._change("plan", "POST", f"/v1/stories/{story.id}/plans", body)
            if created is None:
                await self._resync(story)
                return
            self.record.confirmed.append(("plan", plan_id))
            story.plans[plan_id] = created["status"]
            return
        plan_id = proposed[0]
        if self.random.random() < 0.2:
            rejected = await self._change(
                "reject_plan", "POST", f"/v1/plans/{plan_id}/reject", {"reason": "not yet"}
            )
            if rejected is not None:
                self.record.confirmed.append(("reject_plan", plan_id))
            await self._resync(story)
            return
        approved = await self._change("approve_plan", "POST", f"/v1/plans/{plan_id}/approve", {"notes": "go"})
        if approved is not None:
            self.record.confirmed.append(("approve_plan", plan_id))
        await self._resync(story)  # an approval may move the story (READY_FOR_PLANNING -> PLANNED)

    async def _decide(self, story: _Story) -> None:
        story.decision_count += 1
        decision_id = f"{story.id}-D{story.decision_count}"
        body = {
            "id": decision_id,
            "story_id": story.id,
            "title": f"decision {story.decision_count}",
            "affects": [story.id],
        }
        proposed = await self._change("propose_decision", "POST", "/v1/decisions", body)
        if proposed is None:
            status, _ = await self._read(f"/v1/decisions/{decision_id}")
            if status != 200:
                return
        self.record.decision_ids.append(decision_id)
        verdict = "approve" if self.random.random() < 0.7 else "reject"
        decided = await self._change(
            f"{verdict}_decision",
            "POST",
            f"/v1/decisions/{decision_id}/{verdict}",
            {"rationale": "because the chaos suite says so"},
        )
        if decided is not None:
            self.record.confirmed.append((f"{verdict}_decision", decision_id))


# ---------------------------------------------------------------------- the truth, read back


@dataclass
class StoryTruth:
    id: str
    state: str
    history: list[dict[str, Any]]  # from_state, to_state, event_id, in order
    plans: dict[str, str]  # plan id -> status


@dataclass
class PlanningTruth:
    """What the Planning API reports after the traffic: the system of record the fleet must mirror."""

    project_id: str
    epic_id: str
    stories: dict[str, StoryTruth]
    decisions: dict[str, str]  # decision id -> status

    @property
    def transitions(self) -> int:
        return sum(len(story.history) for story in self.stories.values())


async def read_truth(driver: TrafficDriver) -> PlanningTruth:
    stories: dict[str, StoryTruth] = {}
    decisions: dict[str, str] = {}
    for story_id in driver.record.story_ids:
        status, document = await driver._read(f"/v1/stories/{story_id}")
        if status == 404:
            continue
        history = [
            {"from_state": h["from_state"], "to_state": h["to_state"], "event_id": h["event_id"]}
            for h in document["history"]
        ]
        plans = {plan["id"]: plan["status"] for plan in document["plans"]}
        stories[story_id] = StoryTruth(story_id, document["state"], history, plans)
        status, listed = await driver._read(f"/v1/decisions?story_id={story_id}&limit=1000")
        for decision in listed or []:
            decisions[decision["id"]] = decision["status"]
    return PlanningTruth(driver.record.project_id, driver.record.epic_id, stories, decisions)


def unconfirmed(record: DriverRecord, truth: PlanningTruth) -> list[str]:
    """Changes the API accepted (2xx) that its own records do not hold: lost at the source."""
    missing: list[str] = []
    history_pairs: Counter[tuple[str, str, str]] = Counter(
        (story.id, h["from_state"], h["to_state"]) for story in truth.stories.values() for h in story.history
    )
    plans = {plan_id: status for story in truth.stories.values() for plan_id, status in story.plans.items()}
    for change in record.confirmed:
        kind = change[0]
        if kind == "story" and change[1] not in truth.stories:
            missing.append(f"story {change[1]} created but unknown to planning")
        elif kind == "transition":
            key = (change[1], change[2], change[3])
            if history_pairs[key] > 0:
                history_pairs[key] -= 1
            else:
                missing.append(f"transition {change[1]} {change[2]}->{change[3]} not in its history")
        elif kind == "plan" and change[1] not in plans:
            missing.append(f"plan {change[1]} created but unknown to planning")
        elif kind == "approve_plan" and plans.get(change[1]) not in ("APPROVED", "SUPERSEDED"):
            missing.append(f"plan {change[1]} approved but {plans.get(change[1])}")
        elif kind == "reject_plan" and plans.get(change[1]) != "REJECTED":
            missing.append(f"plan {change[1]} rejected but {plans.get(change[1])}")
        elif kind.endswith("_decision") and kind != "propose_decision":
            expected = "APPROVED" if kind.startswith("approve") else "REJECTED"
            if truth.decisions.get(change[1]) != expected:
                missing.append(
                    f"decision {change[1]} {expected.lower()} but {truth.decisions.get(change[1])}"
                )
    return missing
