"""The real flow: a problem becomes a story the fleet's agents carry out, through its HTTP API.

Per problem: a project on the scratch repository (test command: the docstring's examples), an epic,
the story (the docstring is the specification), a plan for DEV approved by the PO. From there the
fleet works alone: the orchestrator derives tasks, councils deliberate, the workspace service runs
the winning agent on `fleet/<story-id>`, and planning moves the story on the results. The solver
waits until the story is READY_TO_REVIEW, or is held with nothing left running, or the deadline.
The harness then judges whatever the story branch holds. With no person to ask, the solver refuses
every approval the story's agents ask for (ADR 0612).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from swe_fleet.evaluation.app.ports import ScratchRepository, SolverResult
from swe_fleet.evaluation.domain.humaneval import SOLUTION_FILE, Problem

_STILL_WORKING = frozenset({"PENDING", "RUNNING"})


class FleetUnavailable(Exception):
    """The fleet's API refused or could not be reached: the run cannot go on."""


class FleetSolver:
    def __init__(
        self,
        planning_url: str,
        *,
        council_agents: int,
        model: str,
        deadline_seconds: float = 900.0,
        poll_seconds: float = 1.0,
        token: str | None = None,
    ) -> None:
        self.api = planning_url.rstrip("/")
        # The PO's bearer token: the API records its identity as the actor of the stories' changes.
        self.token = token
        self.name = "one agent" if council_agents == 1 else f"council of {council_agents}"
        self.model = model
        self.deadline_seconds, self.poll_seconds = deadline_seconds, poll_seconds

    async def _call(self, http: httpx.AsyncClient, method: str, path: str, body: dict | None = None) -> Any:
        try:
            response = await http.request(method, f"{self.api}/v1{path}", json=body)
        except httpx.HTTPError as error:
            raise FleetUnavailable(f"the fleet's API at {self.api} did not answer: {error}") from None
        if response.status_code >= 300:
            raise FleetUnavailable(
                f"{method} /v1{path} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json()

    async def solve(self, problem: Problem, repo: ScratchRepository) -> SolverResult:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with httpx.AsyncClient(timeout=30.0, headers=headers) as http:
            await self._story(http, problem, repo)
            return await self._follow(http, repo.story_id)

    async def _story(self, http: httpx.AsyncClient, problem: Problem, repo: ScratchRepository) -> None:
        story_id = repo.story_id
        await self._call(
            http,
            "POST",
            "/projects",
            {
                "id": f"PRJ-{story_id}",
                "name": problem.task_id,
                "repo": str(repo.path),
                "base_branch": repo.base_branch,
                "test_command": problem.visible_test_command,
            },
        )
        await self._call(
            http,
            "POST",
            "/epics",
            {"id": f"EP-{story_id}", "project_id": f"PRJ-{story_id}", "title": "HumanEval"},
        )
        await self._call(
            http,
            "POST",
            "/stories",
            {
                "id": story_id,
                "epic_id": f"EP-{story_id}",
                "title": f"Implement {problem.entry_point} ({problem.task_id})",
                "brief": problem.story_brief(),
                "acceptance_criteria": problem.acceptance_criteria(),
            },
        )
        for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
            await self._call(http, "POST", f"/stories/{story_id}/transitions", {"to_state": state})
        plan = await self._call(
            http,
            "POST",
            f"/stories/{story_id}/plans",
            {
                "description": (
                    f"{problem.story_brief()} One task for DEV: read {SOLUTION_FILE}, replace the body "
                    f"of `{problem.entry_point}` (it raises NotImplementedError) with an implementation, "
                    "run the tests, finish."
                ),
                "acceptance_criteria": problem.acceptance_criteria(),
                "technical_notes": f"The docstring of `{problem.entry_point}` is the specification.",
                "roles": ["DEV"],
            },
        )
        await self._call(http, "POST", f"/plans/{plan['id']}/approve", {"notes": "go"})

    async def _follow(self, http: httpx.AsyncClient, story_id: str) -> SolverResult:
        deadline = time.monotonic() + self.deadline_seconds
        while True:
            await self._refuse_approvals(http, story_id)
            story = await self._call(http, "GET", f"/stories/{story_id}")
            delivery = await self._call(http, "GET", f"/stories/{story_id}/delivery")
            if story["state"] == "READY_TO_REVIEW":
                return SolverResult(
                    summary=f"READY_TO_REVIEW: {delivery['suite']['summary'] if delivery['suite'] else ''}"
                )
            working = any(task["status"] in _STILL_WORKING for task in delivery["tasks"])
            if delivery["blocked_reason"] and not working:
                return SolverResult(summary=f"held in {story['state']}: {delivery['blocked_reason']}")
            if time.monotonic() > deadline:
                return SolverResult(
                    summary=f"deadline passed after {self.deadline_seconds:g}s in {story['state']}"
                )
            await asyncio.sleep(self.poll_seconds)

    async def _refuse_approvals(self, http: httpx.AsyncClient, story_id: str) -> None:
        """No person is there to ask: a command that needs the PO's approval is refused (ADR 0612), and
        the agent goes on without it instead of its task waiting out the deadline."""
        for approval in await self._call(http, "GET", "/approvals?status=PROPOSED"):
            if approval.get("story_id") != story_id:
                continue
            path = f"{self.api}/v1/approvals/{approval['id']}/refuse"
            try:
                response = await http.post(path, json={"reason": "a benchmark run changes no dependencies"})
            except httpx.HTTPError as error:
                raise FleetUnavailable(f"the fleet's API at {self.api} did not answer: {error}") from None
            if response.status_code not in (200, 409):  # 409: decided meanwhile
                raise FleetUnavailable(f"refusing {approval['id']} answered {response.status_code}")
