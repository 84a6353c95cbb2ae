"""Planning, Context and workspace processes of a real fleet for the workspace's end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nats.js import JetStreamContext

from fleet_testing.auth import bearer, token_for
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.embedded.child import free_port
from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    DeliberationCompleted,
    ProposalRecord,
    Role,
    TaskDispatched,
    TasksDerived,
    TaskSpec,
)
from swe_fleet.security.identity import Role as AuthRole
from tests.integration.planning.support import spawn_planning, store_target
from tests.support.processes import kill, spawn_module

TEST_COMMAND = "python -m pytest -q -p no:cacheprovider"


@dataclass
class WorkspaceFleet:
    nats_url: str
    root: Path
    llm_url: str
    planning_url: str = ""
    context_url: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)
    workspace: subprocess.Popen | None = None

    def start(self) -> WorkspaceFleet:
        # One token issuer for the planning and context processes (their data dirs differ): its key is
        # made under planning's and copied to context's, as an operator shares one issuer key.
        token_for(self.root / "planning")
        shared = self.root / "context" / "auth"
        shared.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(self.root / "planning" / "auth" / "issuer.key", shared / "issuer.key")
        port = free_port()
        self._store = store_target("sqlite", self.root)
        target = self._store.__enter__()
        self.processes.append(
            spawn_planning(
                self.nats_url, target, self.root / "planning", port, log=self.root / "planning.log"
            )
        )
        self.planning_url = f"http://127.0.0.1:{port}"
        context_port = free_port()
        env = {
            "FLEET_NATS_URL": self.nats_url,
            "FLEET_DATA_DIR": str(self.root / "context"),
            "FLEET_HTTP_PORT": str(context_port),
            "FLEET_LLM_URL": "",
        }
        self.processes.append(
            spawn_module(
                "swe_fleet.cli", "serve", "context", env=env, log=self.root / "context.log", timeout=90
            )
        )
        self.context_url = f"http://127.0.0.1:{context_port}"
        return self

    def start_workspace(self, faults: str = "", env: dict[str, str] | None = None) -> subprocess.Popen:
        extra = env or {}
        env = {
            "FLEET_NATS_URL": self.nats_url,
            "FLEET_DATA_DIR": str(self.root / "workspace"),
            "FLEET_LLM_URL": self.llm_url,
            "FLEET_PLANNING_URL": self.planning_url,
            "FLEET_CONTEXT_URL": self.context_url,
            "FLEET_FAULTS": faults,
            "FLEET_TOKEN": token_for(self.root / "planning", "workspace", (AuthRole.SERVICE,)),
            "FLEET_WORKSPACE_ACK_WAIT_SECONDS": "3",
            "FLEET_LLM_MAX_ATTEMPTS": "2",
            **extra,
        }
        self.workspace = spawn_module(
            "swe_fleet.cli",
            "serve",
            "workspace",
            "--no-http",
            env=env,
            log=self.root / "workspace.log",
            timeout=90,
        )
        return self.workspace

    @property
    def token(self) -> str:
        return token_for(self.root / "planning")

    @property
    def headers(self) -> dict[str, str]:
        """A product owner's bearer token (valid on both APIs: one issuer)."""
        return bearer(self.root / "planning")

    def stop(self) -> None:
        for process in [self.workspace, *self.processes]:
            if process is not None and process.poll() is None:
                kill(process)
        self._store.__exit__(None, None, None)

    # ------------------------------------------------------------------ planning

    def story_with_repository(self, repo: Path | None, test_command: str = TEST_COMMAND) -> str:
        with httpx.Client(base_url=self.planning_url, timeout=10, headers=self.headers) as http:
            project = _ok(
                http.post(
                    "/v1/projects",
                    json={
                        "name": "Calc",
                        "repo": str(repo) if repo is not None else None,
                        "test_command": test_command,
                    },
                )
            )
            epic = _ok(http.post("/v1/epics", json={"project_id": project["id"], "title": "Maths"}))
            story = _ok(
                http.post(
                    "/v1/stories",
                    json={"title": "add adds", "owner": "po", "epic_id": epic["id"]},
                )
            )
        return str(story["id"])


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


async def dispatch(js: JetStreamContext, story_id: str, task_id: str, title: str, plan: str) -> None:
    """What the orchestrator publishes for one task: derived, deliberated (one proposal), dispatched."""
    publisher = EventPublisher(js, producer="orchestrator")
    plan_id, deliberation, proposal = f"PL-{task_id}", f"D-{task_id}", f"P-{task_id}"
    spec = TaskSpec(task_id=task_id, title=title, description=f"{title}.", role=Role.DEV, estimate_hours=1)
    await publisher.publish(
        subjects.TASKS_DERIVED, TasksDerived(story_id=story_id, plan_id=plan_id, tasks=[spec], attempts=1)
    )
    record = ProposalRecord(proposal_id=proposal, agent_id="dev-1", content=plan, status="selected")
    completed = DeliberationCompleted(
        deliberation_id=deliberation,
        story_id=story_id,
        plan_id=plan_id,
        task_id=task_id,
        role=Role.DEV,
        rounds=1,
        agents=["dev-1"],
        proposals=[record],
        winner_proposal_id=proposal,
        winner_agent_id="dev-1",
    )
    await publisher.publish(subjects.DELIBERATION_COMPLETED, completed)
    dispatched = TaskDispatched(
        task_id=task_id,
        story_id=story_id,
        role=Role.DEV,
        agent_id="dev-1",
        deliberation_id=deliberation,
        proposal_id=proposal,
    )
    await publisher.publish(subjects.TASK_DISPATCHED, dispatched)


async def workspace_events(js: JetStreamContext) -> list[tuple[str, dict[str, Any]]]:
    """Every event in WORKSPACE_EVENTS, in order: (subject, payload)."""
    info = await js.stream_info("WORKSPACE_EVENTS")
    events: list[tuple[str, dict[str, Any]]] = []
    if not info.state.messages:
        return events
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg("WORKSPACE_EVENTS", seq)
        events.append((message.subject, json.loads(message.data or b"{}")["payload"]))
    return events


async def results_for(
    js: JetStreamContext, task_id: str, within: float = 240.0
) -> list[tuple[str, dict[str, Any]]]:
    """The task's result events, once there is one (waits for the first)."""
    deadline = time.monotonic() + within
    while True:
        found = [
            (subject, payload)
            for subject, payload in await workspace_events(js)
            if subject in (subjects.WORKSPACE_TASK_COMPLETED, subjects.WORKSPACE_TASK_FAILED)
            and payload["task_id"] == task_id
        ]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)
