"""`fleet story show` gives the story's tokens from Context's roll-up; `fleet story budget` sets the budget.

The HTTP answers are scripted (httpx patched): what is under test is what the CLI asks and prints.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from swe_fleet.cli.main import app

TOTALS = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "tokens": 1500,
    "llm_seconds": 4.5,
    "llm_calls": 3,
    "answers": 3,
}
USAGE = {"total": TOTALS, "by_deliberation": {"dlb-T1": TOTALS}, "by_role": {"DEV": TOTALS}}
STORY = {
    "id": "US-1",
    "title": "Refunds",
    "state": "PLANNED",
    "allowed_transitions": [],
    "owner": "po",
    "epic_id": None,
    "brief": "",
    "acceptance_criteria": [],
    "version": 3,
    "token_budget": 60000,
    "correlation_id": "c",
    "created_by": "po",
    "created_at": "2026-11-29T00:00:00Z",
    "updated_at": "2026-11-29T00:00:00Z",
    "history": [],
    "plans": [],
}


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    sent: list[tuple[str, str, Any]] = []

    def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
        sent.append((method, url, kwargs.get("json")))
        if url.endswith("/token-budget"):
            return httpx.Response(200, json={**STORY, "token_budget": kwargs["json"]["token_budget"]})
        return httpx.Response(200, json=STORY)

    def get(url: str, **kwargs: Any) -> httpx.Response:
        sent.append(("GET", url, None))
        return httpx.Response(200, json=USAGE)

    monkeypatch.setattr(httpx, "request", request)
    monkeypatch.setattr(httpx, "get", get)
    monkeypatch.setenv("FLEET_TOKEN", "test-token")
    return sent


def test_story_show_prints_the_recorded_tokens_and_the_budget(http) -> None:
    result = CliRunner().invoke(app, ["story", "show", "US-1"])
    assert result.exit_code == 0, result.output
    assert "budget: 60000" in result.output and "dlb-T1" in result.output
    assert "1500" in result.output and "4.5" in result.output
    assert any(url.endswith("/v1/context/stories/US-1/usage") for _, url, _ in http)

    as_json = CliRunner().invoke(app, ["story", "show", "US-1", "--json"])
    assert json.loads(as_json.output)["usage"]["total"]["tokens"] == 1500


def test_story_budget_puts_the_tokens_and_refuses_nonsense(http) -> None:
    result = CliRunner().invoke(app, ["story", "budget", "US-1", "90000"])
    assert result.exit_code == 0, result.output
    assert ("PUT", http[-1][1], {"token_budget": 90000}) == http[-1]
    assert http[-1][1].endswith("/v1/stories/US-1/token-budget")
    back = CliRunner().invoke(app, ["story", "budget", "US-1", "--default"])
    assert back.exit_code == 0 and http[-1][2] == {"token_budget": None}
    both = CliRunner().invoke(app, ["story", "budget", "US-1", "5", "--default"])
    assert both.exit_code == 2 and "not both" in both.output
