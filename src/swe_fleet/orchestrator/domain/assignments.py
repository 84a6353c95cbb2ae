"""Who critiques whom, and who judges whom: rotations over the council that never pair an agent with itself.

With n >= 2 agents in the fixed order a_0..a_{n-1}, "a_i reviews a_{(i+k) mod n}" for a k in 1..n-1
is a derangement (nobody reviews itself) in which every agent gives and receives exactly one review.
Rounds use different k so an agent meets different peers; judges avoid the last round's critic when
they can, so a proposal is judged by fresh eyes. With one agent there is no peer: it reviews itself.
"""

from __future__ import annotations

from collections.abc import Sequence


def critique_offset(n: int, round_number: int) -> int:
    return 1 + (round_number - 1) % (n - 1) if n > 1 else 0


def critique_pairs(agents: Sequence[str], round_number: int) -> list[tuple[str, str]]:
    """(critic, author) pairs for a critique round (1-based)."""
    ordered = sorted(agents)
    n = len(ordered)
    k = critique_offset(n, round_number)
    return [(ordered[i], ordered[(i + k) % n]) for i in range(n)]


def judge_pairs(agents: Sequence[str], judges_per_proposal: int, last_round: int) -> list[tuple[str, str]]:
    """(judge, author) pairs: each proposal gets min(judges_per_proposal, n-1) judges, none its author."""
    ordered = sorted(agents)
    n = len(ordered)
    if n == 1:
        return [(ordered[0], ordered[0])]
    avoided = critique_offset(n, last_round)
    offsets = [k for k in range(1, n) if k != avoided] + [avoided]
    chosen = offsets[: min(judges_per_proposal, n - 1)]
    return [(ordered[i], ordered[(i + k) % n]) for k in chosen for i in range(n)]
