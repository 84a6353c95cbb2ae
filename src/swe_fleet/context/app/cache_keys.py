"""Cache keys of assembled packs: the story's context version is in the key, so a graph change makes
every older entry unreachable (nothing is invalidated by hand)."""

from __future__ import annotations

import hashlib
import json

KEY_PREFIX = "fleet:context:v1"


def cache_key(
    story_id: str,
    version: int,
    *,
    graph: str,
    role: str,
    phase: str,
    task_id: str | None,
    token_budget: int,
    policy: str,
    tokenizer: str,
    as_of: str | None = None,
    history: bool = False,
) -> str:
    """`fleet:context:v1:<graph instance>:<story>:<version>:<digest of everything else shaping the pack>`.

    The graph's instance id is there because a rebuilt graph starts its versions again from 1.
    """
    shape = json.dumps([role, phase, task_id, token_budget, policy, tokenizer, as_of, history])
    digest = hashlib.sha256(shape.encode()).hexdigest()[:24]
    story = hashlib.sha256(story_id.encode()).hexdigest()[:16]  # ids may hold any character
    return f"{KEY_PREFIX}:{graph}:{story}:{version}:{digest}"
