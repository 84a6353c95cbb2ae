"""KV keys: any id becomes a valid key token, distinct ids never share a key."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.orchestrator.adapters.state_store import deliberation_key, key_part, story_key

VALID_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


def test_plain_ids_stay_readable() -> None:
    assert story_key("US-12") == "story.US-12"
    assert deliberation_key("dlb-PL-1-T1") == "deliberation.dlb-PL-1-T1"


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_any_id_is_a_valid_distinct_token(first: str, second: str) -> None:
    a, b = key_part(first), key_part(second)
    assert VALID_KEY.match(a) and "." not in a
    assert (a == b) == (first == second)
