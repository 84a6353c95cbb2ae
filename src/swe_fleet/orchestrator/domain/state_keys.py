"""Where a story record and a deliberation live in the state store: one key each."""

from __future__ import annotations

import hashlib
import re

STORY_PREFIX = "story."
DELIBERATION_PREFIX = "deliberation."
_PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]{1,120}$")


def key_part(identifier: str) -> str:
    """An id as a KV key token: as is when it is plain, else `=` and a hash (`=` never starts a plain id)."""
    if _PLAIN_ID.match(identifier):
        return identifier
    return "=" + hashlib.sha256(identifier.encode()).hexdigest()[:40]


def story_key(story_id: str) -> str:
    return STORY_PREFIX + key_part(story_id)


def deliberation_key(deliberation_id: str) -> str:
    return DELIBERATION_PREFIX + key_part(deliberation_id)
