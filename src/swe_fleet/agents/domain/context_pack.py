"""The surgical context the Context service assembled for one agent call, as the prompt uses it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContextPack:
    system: str = ""
    context: str = ""
    tools: str = ""
    version: str | None = None
    token_count: int | None = None
    sections_cut: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ContextOutcome:
    """A pack, or why there is none (the agent then answers without it, and says so)."""

    pack: ContextPack | None
    problem: str | None = None
    # False when the Context service could not be reached at all (as opposed to refusing the request):
    # the one case the worker's context policy may choose to wait out.
    reachable: bool = True
    # True when the service answered but cannot give this context yet (it has not projected the story):
    # like an outage, a case the "wait" policy waits out.
    transient: bool = False

    @property
    def worth_waiting_for(self) -> bool:
        return not self.reachable or self.transient


class ContextPolicy:
    """What a worker does when the Context service is unreachable (FLEET_AGENT_CONTEXT_POLICY)."""

    ANSWER = "answer"  # answer without context; the response says why (`context_error`)
    WAIT = "wait"  # hold the command (retried with backoff) until Context is back or its deadline passes
