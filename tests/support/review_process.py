"""The QA reviewer as a real process (`fleet serve review`), and the scripted model's review answers."""

from __future__ import annotations

import json
import subprocess

from fleet_testing.auth import token_for
from fleet_testing.scripted_llm import ScriptedLlm, Turn
from swe_fleet.events.payloads import ReviewVerdict
from swe_fleet.security.identity import Role as AuthRole
from tests.support.processes import spawn_module
from tests.support.workspace_fleet import WorkspaceFleet

# Found in the reviewer's system prompt only: the scripted server answers by the first key it finds,
# so this script is registered before the workspace's (dict order).
REVIEW_KEY = "You are the QA reviewer of a software team"


def script_review(
    llm: ScriptedLlm, verdict: ReviewVerdict, summary: str, findings: tuple[str, ...] = ()
) -> None:
    answer = {"verdict": verdict.value, "summary": summary, "findings": list(findings)}
    turns = [Turn.say(json.dumps(answer))]
    if REVIEW_KEY in llm.scripts:
        llm.scripts[REVIEW_KEY] = turns  # keeps its place (first) in the dict
    else:
        llm.scripts = {REVIEW_KEY: turns, **llm.scripts}


def start_review(fleet: WorkspaceFleet) -> subprocess.Popen:
    env = {
        "FLEET_NATS_URL": fleet.nats_url,
        "FLEET_DATA_DIR": str(fleet.root / "review"),
        "FLEET_LLM_URL": fleet.llm_url,
        "FLEET_PLANNING_URL": fleet.planning_url,
        "FLEET_LLM_MAX_ATTEMPTS": "2",
        "FLEET_TOKEN": token_for(fleet.root / "planning", "review", (AuthRole.SERVICE,)),
    }
    process = spawn_module(
        "swe_fleet.cli", "serve", "review", "--no-http", env=env, log=fleet.root / "review.log", timeout=90
    )
    fleet.processes.append(process)
    return process


def start_orchestrator(fleet: WorkspaceFleet) -> subprocess.Popen:
    """`fleet serve orchestrator`: here for its re-dispatch of reworked tasks (ADR 0703)."""
    env = {
        "FLEET_NATS_URL": fleet.nats_url,
        "FLEET_DATA_DIR": str(fleet.root / "orchestrator"),
        "FLEET_LLM_URL": "",
    }
    process = spawn_module(
        "swe_fleet.cli",
        "serve",
        "orchestrator",
        "--no-http",
        env=env,
        log=fleet.root / "orchestrator.log",
        timeout=90,
    )
    fleet.processes.append(process)
    return process
