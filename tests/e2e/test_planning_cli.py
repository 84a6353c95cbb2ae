"""`fleet project|epic|story|plan|decision` as a user runs them, against a real planning process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet_testing.auth import token_for
from swe_fleet.embedded.child import free_port
from tests.integration.planning.support import spawn_planning, store_target
from tests.support.processes import kill

FLEET = Path(sys.executable).with_name("fleet")


@pytest.fixture
def planning_url(nats_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The CLI sends FLEET_TOKEN: a product owner's token naming po-ana, the actor the API records.
    monkeypatch.setenv("FLEET_TOKEN", token_for(tmp_path, "po-ana"))
    with store_target("sqlite", tmp_path) as target:
        port = free_port()
        process = spawn_planning(nats_server.url, target, tmp_path, port, log=tmp_path / "planning.log")
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            kill(process, signal.SIGTERM)


def fleet(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLEET_PLANNING_URL": url, **(env or {})}
    return subprocess.run([str(FLEET), *args], capture_output=True, text=True, env=env, timeout=60)


def fleet_json(url: str, *args: str):
    result = fleet(url, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_story_from_creation_to_an_approved_plan(planning_url: str) -> None:
    project = fleet_json(planning_url, "project", "create", "Shop", "--description", "web shop")
    epic = fleet_json(planning_url, "epic", "create", "Auth", "--project", project["id"])
    story = fleet_json(
        planning_url, "story", "create", "Login", "--epic", epic["id"], "--ac", "works", "--ac", "is fast"
    )
    assert (story["state"], story["owner"], story["acceptance_criteria"]) == (
        "DRAFT",
        "po-ana",
        ["works", "is fast"],
    )
    for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
        moved = fleet_json(planning_url, "story", "transition", story["id"], state, "--reason", "ready")
        assert moved["state"] == state
    plan = fleet_json(
        planning_url,
        "plan",
        "create",
        story["id"],
        "--description",
        "JWT login",
        "--ac",
        "tokens expire",
        "--role",
        "DEV",
        "--role",
        "QA",
    )
    approved = fleet_json(planning_url, "plan", "approve", plan["id"], "--notes", "go")
    assert (approved["status"], approved["decided_by"], approved["roles"]) == (
        "APPROVED",
        "po-ana",
        ["DEV", "QA"],
    )
    shown = fleet_json(planning_url, "story", "show", story["id"])
    assert shown["state"] == "PLANNED"
    assert [h["to_state"] for h in shown["history"]] == ["PO_REVIEW", "READY_FOR_PLANNING", "PLANNED"]

    decision = fleet_json(planning_url, "decision", "create", story["id"], "--title", "Use RS256")
    decided = fleet_json(planning_url, "decision", "approve", decision["id"], "--rationale", "safer")
    assert (decided["status"], decided["rationale"]) == ("APPROVED", "safer")

    listed = fleet_json(planning_url, "story", "ls", "--project", project["id"], "--state", "PLANNED")
    assert [s["id"] for s in listed] == [story["id"]]
    # The human output is a table with the story in it.
    table = fleet(planning_url, "story", "ls")
    assert table.returncode == 0 and story["id"] in table.stdout and "PLANNED" in table.stdout
    human = fleet(planning_url, "story", "show", story["id"])
    assert human.returncode == 0 and "history" in human.stdout


def test_errors_are_one_line_and_a_non_zero_exit(planning_url: str) -> None:
    story = fleet_json(planning_url, "story", "create", "Login")

    illegal = fleet(planning_url, "story", "transition", story["id"], "DONE")
    assert illegal.returncode == 1
    assert illegal.stderr.strip().splitlines() == [
        f"fleet: story {story['id']} cannot go from DRAFT to DONE; allowed from DRAFT: PO_REVIEW (HTTP 409)"
    ]
    missing = fleet(planning_url, "story", "show", "US-nope")
    assert missing.returncode == 1 and missing.stderr == "fleet: story 'US-nope' not found (HTTP 404)\n"

    stale = fleet(planning_url, "story", "transition", story["id"], "PO_REVIEW", "--expected-version", "7")
    assert (
        stale.returncode == 1 and "version 1, not 7" in stale.stderr and len(stale.stderr.splitlines()) == 1
    )

    invalid = fleet(planning_url, "story", "create", "   ")
    assert invalid.returncode == 2
    assert invalid.stderr.startswith("fleet: invalid input: title") and len(invalid.stderr.splitlines()) == 1

    bad_state = fleet(planning_url, "story", "transition", story["id"], "LIMBO")
    assert bad_state.returncode != 0  # refused by the CLI itself: not one of the states


def test_an_unreachable_api_names_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = fleet(url, "project", "ls")
    assert result.returncode == 3
    assert result.stderr.startswith(f"fleet: cannot reach the planning API at {url}: connection refused")
    assert len(result.stderr.splitlines()) == 1


def test_without_a_token_the_cli_says_where_one_comes_from(
    planning_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FLEET_TOKEN")
    monkeypatch.setenv("FLEET_DATA_DIR", str(tmp_path / "elsewhere"))  # no po.token there
    result = fleet(planning_url, "project", "ls")
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "bearer token is required" in result.stderr and "FLEET_TOKEN" in result.stderr


def test_a_project_names_its_repository_and_how_its_tests_run(planning_url: str, tmp_path: Path) -> None:
    repo = tmp_path / "calc"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    created = fleet_json(
        planning_url,
        "project", "create", "Calc",
        "--repo", str(repo),
        "--base-branch", "trunk",
        "--test-command", "python -m pytest -q",
    )  # fmt: skip
    assert (created["repo"], created["base_branch"], created["test_command"]) == (
        str(repo.resolve()),
        "trunk",
        "python -m pytest -q",
    )
    shown = fleet_json(planning_url, "project", "ls")
    assert [(p["id"], p["repo"]) for p in shown] == [(created["id"], str(repo.resolve()))]

    bad = fleet(planning_url, "project", "create", "Bad", "--repo", str(repo), "--base-branch", "a..b")
    assert bad.returncode == 2
    assert bad.stderr.startswith("fleet: invalid input: base_branch") and len(bad.stderr.splitlines()) == 1


def test_the_po_sets_a_storys_token_budget_from_the_cli(planning_url: str) -> None:
    project = fleet_json(planning_url, "project", "create", "Shop", "--description", "web shop")
    epic = fleet_json(planning_url, "epic", "create", "Refunds", "--project", project["id"])
    story = fleet_json(planning_url, "story", "create", "Refund", "--epic", epic["id"])
    assert story["token_budget"] is None
    raised = fleet_json(planning_url, "story", "budget", story["id"], "50000")
    assert raised["token_budget"] == 50000
    # No Context service here: the story is shown, and the tokens say why they are unknown.
    env = {"FLEET_CONTEXT_URL": f"http://127.0.0.1:{free_port()}"}
    shown = fleet(planning_url, "story", "show", story["id"], "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["token_budget"] == 50000 and document["usage"] is None
    assert "Context service cannot be asked" in document["usage_error"]
    back = fleet_json(planning_url, "story", "budget", story["id"], "--default")
    assert back["token_budget"] is None
    refused = fleet(planning_url, "story", "budget", story["id"], "0")
    assert (
        refused.returncode == 2
        and refused.stderr.strip() == "fleet: a token budget is a positive number of tokens, not 0"
    )
