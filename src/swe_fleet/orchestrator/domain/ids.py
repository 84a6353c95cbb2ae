"""Deterministic identifiers: the same work always gets the same id, whichever replica computes it.

A retried step therefore re-publishes a command or event under the id it had the first time, and
JetStream (msg-id) and every consumer (id-keyed state) recognise it as the same thing.
"""

from __future__ import annotations

import hashlib

MAX_ID = 200  # payload ids are at most 200 characters


def digest(*parts: object, length: int = 20) -> str:
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _readable_or_hashed(readable: str, *parts: object, prefix: str) -> str:
    return readable if len(readable) <= MAX_ID else f"{prefix}-{digest(*parts, length=32)}"


def task_id(plan_id: str, key: str, generation: int = 1) -> str:
    """`<plan>-<key>` (e.g. plan-7-T2); a re-derivation of the same plan adds `-g<generation>`."""
    suffix = key if generation == 1 else f"g{generation}-{key}"
    return _readable_or_hashed(f"{plan_id}-{suffix}", plan_id, generation, key, prefix="task")


def deliberation_id(task: str) -> str:
    """One deliberation per task: its id follows from the task's."""
    return _readable_or_hashed(f"dlb-{task}", task, prefix="dlb")


def proposal_id(deliberation: str, agent: str) -> str:
    """An agent's proposal keeps its id through revisions (the revision number travels beside it)."""
    return _readable_or_hashed(f"{deliberation}.{agent}", deliberation, agent, prefix="prp")


def critique_id(deliberation: str, critic: str, author: str, round_number: int) -> str:
    return f"crt-{digest(deliberation, critic, author, round_number)}"


def command_id(scope: str, kind: str, round_number: int, agent: str, target: str = "") -> str:
    """`scope` is the deliberation (or derivation) the command belongs to."""
    return f"cmd-{kind}-{digest(scope, kind, round_number, agent, target, length=24)}"


def derivation_id(story_id: str, plan_id: str, generation: int) -> str:
    return f"drv-{digest(story_id, plan_id, generation)}"


def event_key(subject: str, subject_id: str) -> str:
    """The key an outgoing event's deterministic id is derived from."""
    return f"{subject}:{subject_id}"
