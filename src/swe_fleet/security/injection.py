"""Spotting text that tries to instruct the agents (prompt injection), so the attempt is recorded.

Detection is not the defence: untrusted text is fenced as data in every prompt, redacted of secrets,
and an answer moves nothing until it validates against its kind's contract. This only names the
attempt (a log line and a metric), so a person can see who tried what.
"""

from __future__ import annotations

import re

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "override instructions",
            r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(instructions?|rules?|prompts?|guidelines)\b",
        ),
        ("new persona", r"\b(you are now|act as|pretend to be|from now on you)\b"),
        (
            "reveal secrets",
            r"\b(reveal|print|show|output|leak|send|tell)\b[^.\n]{0,60}"
            r"\b(passwords?|secrets?|credentials?|api[ _-]?keys?|tokens?|system prompt|env(ironment)? var)",
        ),
        (
            "run commands",
            r"\b(run|execute|exec|eval)\b[^.\n]{0,40}\b(commands?|shell|bash|sh|curl|wget|script)\b"
            r"|\brm\s+-rf\b|\bcurl\s+\S+\s*\|\s*(ba)?sh\b",
        ),
        # A fence marker inside data arrives broken up ("< < <"); either form is an attempt.
        ("fence escape", r"<\s*<\s*<\s*END DATA|<\s*/?\s*(system|assistant)\s*>"),
    )
)


def suspected_injection(text: str) -> list[str]:
    """The kinds of instruction-like text found (empty when none): for the record, never a verdict."""
    return [name for name, pattern in _PATTERNS if pattern.search(text)]
