"""Keeping an agent's conversation within what the model can read.

The system prompt, the task and the latest turns matter most; old observations (file listings, test
output read many steps ago) matter least, so they are shortened first, oldest first.
"""

from __future__ import annotations

from typing import Any

KEEP_RECENT = 6
SHORT_OBSERVATION = 300


def _size(messages: list[dict[str, Any]]) -> int:
    return sum(
        len(str(message.get("content") or "")) + len(str(message.get("tool_calls") or ""))
        for message in messages
    )


def compact(messages: list[dict[str, Any]], max_characters: int) -> list[dict[str, Any]]:
    """`messages` if they fit; else a copy with the oldest tool results shortened until they do."""
    if _size(messages) <= max_characters:
        return messages
    shortened = [dict(message) for message in messages]
    for index in range(2, max(2, len(shortened) - KEEP_RECENT)):
        message = shortened[index]
        content = str(message.get("content") or "")
        if message.get("role") in ("tool", "user") and len(content) > SHORT_OBSERVATION:
            cut = len(content) - SHORT_OBSERVATION
            message["content"] = (
                f"{content[:SHORT_OBSERVATION]}\n[... {cut} characters of an old result left out]"
            )
            if _size(shortened) <= max_characters:
                break
    return shortened
