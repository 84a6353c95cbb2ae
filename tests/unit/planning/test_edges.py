"""Pure helpers at the planning edges: reading If-Match, and turning API errors into one CLI line."""

from __future__ import annotations

import httpx
import pytest
from fastapi.exceptions import RequestValidationError

from swe_fleet.cli.planning import describe_error
from swe_fleet.planning.adapters.http_api import expected_version
from swe_fleet.planning.domain.errors import Conflict


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [(None, None, None), ('"3"', None, 3), ('W/"3"', None, 3), ("3", 3, 3), ("*", 5, 5), (None, 7, 7)],
)
def test_expected_version_reads_etags_and_the_body(header, body, expected) -> None:
    assert expected_version(header, body) == expected


def test_expected_version_refuses_garbage_and_contradictions() -> None:
    with pytest.raises(RequestValidationError):
        expected_version('"soon"', None)
    with pytest.raises(Conflict, match="cannot both be"):
        expected_version('"2"', 3)


def response(status: int, body) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("GET", "http://x"))


def test_describe_error_uses_the_detail_string() -> None:
    assert describe_error(response(404, {"detail": "story 'US-1' not found"})) == "story 'US-1' not found"


def test_describe_error_names_the_fields_of_a_validation_error() -> None:
    body = {
        "detail": [
            {"loc": ["body", "title"], "msg": "Field required", "type": "missing"},
            {"loc": ["query", "limit"], "msg": "too big", "type": "x"},
        ]
    }
    assert describe_error(response(422, body)) == "invalid input: title: Field required; limit: too big"


def test_describe_error_copes_with_a_body_that_is_not_json() -> None:
    raw = httpx.Response(502, text="Bad gateway\nupstream down", request=httpx.Request("GET", "http://x"))
    assert describe_error(raw) == "Bad gateway"
