"""Finding the JSON object in a model's answer: servers without grammar support wrap it in prose or fences."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*", re.IGNORECASE)


class NoJsonObject(ValueError):
    """The answer holds no complete JSON object."""


def extract_json_object(text: str) -> dict[str, Any]:
    """The JSON object that `text` is, or that it carries in a ``` fence or after some prose.

    Only an object's opening brace is tried, never one nested inside it: a truncated answer must
    fail, not yield one of its inner objects.
    """
    starts = [match.end() for match in _FENCE.finditer(text)]
    first_brace = text.find("{")
    if first_brace != -1:
        starts.insert(0, first_brace)
    decoder = json.JSONDecoder()
    problem = "there is no '{' in the answer"
    for start in starts:
        start = text.find("{", start)
        if start == -1:
            continue
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError as error:
            problem = f"{error.msg} at character {error.pos} of {len(text)}"
            continue
        if isinstance(value, dict):
            return value
    raise NoJsonObject(f"the answer is not a complete JSON object: {problem}")
