"""A stand-in for the Context service's one endpoint the agent workers call, on a real HTTP port.

    GET /v1/context/stories/{story_id}?role=&phase=&task_id=&token_budget=

It answers the documented shape ({version, token_count, blocks: {system, context, tools},
sections_included, sections_cut}) and records each request. The worker tests use it until the
Context service exists; they then switch to the real one (the lead's call).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException

from swe_fleet.embedded.child import free_port

VERSION = 17


class ContextStandIn:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        app = FastAPI()

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/v1/context/stories/{story_id}")
        def context(story_id: str, role: str, token_budget: int, phase: str = "", task_id: str | None = None):
            self.requests.append(
                {
                    "story_id": story_id,
                    "role": role,
                    "phase": phase,
                    "task_id": task_id,
                    "token_budget": token_budget,
                }
            )
            if story_id.startswith("unknown"):
                raise HTTPException(404, f"story {story_id} is not in the graph")
            return {
                "version": VERSION,
                "token_count": 40,
                "blocks": {
                    "system": f"You work on story {story_id} as {role}; phase {phase}.",
                    "context": "Decision D-3 (approved): the planning API stays on FastAPI with SQLite.",
                    "tools": "",
                },
                "sections_included": ["story", "decisions"],
                "sections_cut": [],
            }

        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, name="context-stand-in", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ContextStandIn:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("context stand-in did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
