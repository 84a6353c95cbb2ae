"""How the board reads the API's refusals: one sentence, and one message per field for invalid input."""

from __future__ import annotations

import httpx

from swe_fleet.board.adapters.fleet_api import _refusal


def test_a_conflict_keeps_the_apis_sentence() -> None:
    refused = _refusal(httpx.Response(409, json={"detail": "story US-1 is at version 3, not 2"}))
    assert (refused.status, refused.detail, refused.fields) == (409, "story US-1 is at version 3, not 2", {})


def test_invalid_input_is_one_message_per_field() -> None:
    body = {
        "detail": [
            {"loc": ["body", "title"], "msg": "String should have at least 1 character"},
            {"loc": ["body", "acceptance_criteria", 0], "msg": "too long"},
        ]
    }
    refused = _refusal(httpx.Response(422, json=body))
    assert refused.fields == {
        "title": "String should have at least 1 character",
        "acceptance_criteria": "too long",
    }
    assert refused.detail.startswith("invalid input: title: String should")


def test_a_body_that_is_not_json_is_still_a_refusal() -> None:
    refused = _refusal(httpx.Response(502, text="Bad gateway"))
    assert (refused.status, refused.detail) == (502, "Bad gateway")
