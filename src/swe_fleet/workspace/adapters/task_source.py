"""A dispatched task's brief, from Planning (its project's repository) and Context (task, plan, context).

    story -> epic -> project      GET {planning}/v1/stories/{id}, /v1/epics/{id}, /v1/projects/{id}
    the task and the proposal     POST {context}/v1/graph/query (read-only Cypher)
    the surgical context          GET {context}/v1/context/stories/{id}?role=&task_id=&token_budget=

Planning or Context unreachable (or 5xx) is a TransientError: the task waits for them. A story with
no project repository is TaskUnworkable: there is nothing to work on, and retrying will not change it.
The task and the council's proposal may reach the graph a moment after the dispatch: each is asked
for a few times, then the task goes on without it (its id as title, no plan).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import httpx

from swe_fleet.errors import TransientError
from swe_fleet.events.payloads import TaskDispatched
from swe_fleet.graph.schema import Label, Rel
from swe_fleet.workspace.app.execution_ports import ProjectRepository, TaskBrief, TaskUnworkable

# A rework (ADR 0703) has no title of its own: the task it reworks gives it.
_TASK_QUERY = (
    f"MATCH (t:{Label.TASK} {{id: $id}}) OPTIONAL MATCH (t)-[:{Rel.REWORKS}]->(o:{Label.TASK}) "
    "RETURN coalesce(t.title, o.title) AS title, coalesce(t.description, o.description) AS description"
)
_PROPOSAL_QUERY = f"MATCH (p:{Label.PROPOSAL} {{id: $id}}) RETURN p.content AS content"
_RETRYABLE = {429, 500, 502, 503, 504}


class HttpTaskSource:
    def __init__(
        self,
        planning_url: str,
        context_url: str,
        *,
        headers: dict[str, str] | None = None,
        context_budget: int = 1500,
        proposal_attempts: int = 5,
        proposal_delay: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        self._planning = httpx.AsyncClient(
            base_url=planning_url.rstrip("/"), timeout=timeout, headers=headers
        )
        self._context = httpx.AsyncClient(base_url=context_url.rstrip("/"), timeout=timeout, headers=headers)
        self._budget = context_budget
        self._proposal_attempts = proposal_attempts
        self._proposal_delay = proposal_delay

    async def aclose(self) -> None:
        await self._planning.aclose()
        await self._context.aclose()

    async def brief(self, task: TaskDispatched) -> TaskBrief:
        repository = await self._repository(task.story_id)
        title, description = await self._task(task.task_id)
        plan = await self._proposal(task.proposal_id) if task.proposal_id else ""
        context, problem = await self._surgical_context(task)
        return TaskBrief(
            task_id=task.task_id,
            story_id=task.story_id,
            title=title,
            description=description,
            repository=repository,
            plan=plan,
            context=context,
            context_problem=problem,
        )

    async def _repository(self, story_id: str) -> ProjectRepository:
        story = await self._get(
            self._planning, f"/v1/stories/{quote(story_id, safe='')}", f"story {story_id}"
        )
        epic_id = story.get("epic_id")
        if not epic_id:
            raise TaskUnworkable(f"story {story_id} belongs to no epic, so to no project with a repository")
        epic = await self._get(self._planning, f"/v1/epics/{quote(epic_id, safe='')}", f"epic {epic_id}")
        project_id = str(epic.get("project_id") or "")
        project = await self._get(
            self._planning, f"/v1/projects/{quote(project_id, safe='')}", f"project {project_id}"
        )
        if not project.get("repo"):
            raise TaskUnworkable(f"project {project_id} names no repository (fleet project create --repo)")
        return ProjectRepository(
            repo=str(project["repo"]),
            base_branch=str(project.get("base_branch") or "main"),
            test_command=project.get("test_command") or None,
        )

    async def _task(self, task_id: str) -> tuple[str, str]:
        row = await self._found(_TASK_QUERY, task_id, "title")
        if row is None:
            return task_id, ""
        return str(row["title"]), str(row.get("description") or "")

    async def _proposal(self, proposal_id: str) -> str:
        row = await self._found(_PROPOSAL_QUERY, proposal_id, "content")
        return str(row["content"]) if row else ""

    async def _found(self, cypher: str, entity_id: str, needed: str) -> dict[str, Any] | None:
        """The entity's row once the graph has it (it may trail the dispatch a moment), or None."""
        for attempt in range(self._proposal_attempts):
            if attempt:
                await asyncio.sleep(self._proposal_delay)
            rows = await self._query(cypher, entity_id)
            if rows and rows[0].get(needed):
                return rows[0]
        return None

    async def _surgical_context(self, task: TaskDispatched) -> tuple[str, str | None]:
        params: dict[str, Any] = {
            "role": task.role.value,
            "task_id": task.task_id,
            "token_budget": self._budget,
        }
        try:
            response = await self._context.get(
                f"/v1/context/stories/{quote(task.story_id, safe='')}", params=params
            )
        except httpx.TransportError as error:
            return "", f"Context service unreachable ({type(error).__name__})"
        if response.status_code >= 400:
            return "", f"Context service answered {response.status_code}"
        blocks = response.json().get("blocks") or {}
        return _text(blocks.get("context")), None

    async def _query(self, cypher: str, entity_id: str) -> list[dict[str, Any]]:
        document = await self._send(
            self._context,
            "POST",
            "/v1/graph/query",
            "the graph",
            {"cypher": cypher, "params": {"id": entity_id}},
        )
        rows = document.get("rows") or []
        return [row for row in rows if isinstance(row, dict)]

    async def _get(self, client: httpx.AsyncClient, path: str, what: str) -> dict[str, Any]:
        return await self._send(client, "GET", path, what, None)

    async def _send(
        self, client: httpx.AsyncClient, method: str, path: str, what: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        try:
            response = await client.request(method, path, json=body)
        except httpx.TransportError as error:
            raise TransientError(
                f"cannot reach {client.base_url} for {what}: {type(error).__name__}"
            ) from None
        if response.status_code in _RETRYABLE:
            raise TransientError(f"{client.base_url} answered {response.status_code} for {what}")
        if response.status_code == 404:
            raise TaskUnworkable(f"{what} not found at {client.base_url}")
        if response.status_code >= 400:
            raise TaskUnworkable(
                f"{client.base_url} refused {what}: {response.status_code} {response.text[:200]}"
            )
        document = response.json()
        return document if isinstance(document, dict) else {}


def _text(block: Any) -> str:
    if block is None:
        return ""
    if isinstance(block, str):
        return block
    if isinstance(block, list):
        return "\n\n".join(filter(None, (_text(item) for item in block)))
    if isinstance(block, dict):
        body = str(block.get("text") or block.get("content") or "")
        title = str(block.get("title") or "")
        return f"{title}\n{body}".strip() if title else body
    return str(block)
