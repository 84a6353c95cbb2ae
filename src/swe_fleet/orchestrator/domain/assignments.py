"""Who critiques whom, and who judges whom: rotations over the council that never pair an agent with itself.

Seats are in a fixed order s_0..s_{n-1}. In round r the critic of s_j is s_{(j-k) mod n} with
k = 1 + (r-1) mod (n-1): with every seat available that is a derangement (nobody reviews itself,
everyone gives and receives exactly one critique) and rounds rotate peers. Judges of s_j are taken at
the other offsets, the last round's critic last, so a proposal is judged by fresh eyes first. A seat
whose own proposal failed is skipped (the next one in the rotation takes its place); only when no peer
is left does an agent review itself (always, in a council of one).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def critique_offset(n: int, round_number: int) -> int:
    return 1 + (round_number - 1) % (n - 1) if n > 1 else 0


def _peers(seats: Sequence[str], author: str, first_offset: int) -> list[str]:
    """The other seats as seen from `author`, starting `first_offset` seats back and going round."""
    n, index = len(seats), seats.index(author)
    offsets = [1 + (first_offset - 1 + step) % (n - 1) for step in range(n - 1)] if n > 1 else []
    return [seats[(index - offset) % n] for offset in offsets]


def critic_for(
    seats: Sequence[str], author: str, round_number: int, unavailable: Collection[str] = ()
) -> str:
    """The seat that critiques `author`'s proposal in `round_number` (1-based)."""
    first = critique_offset(len(seats), round_number)
    return next((peer for peer in _peers(seats, author, first) if peer not in unavailable), author)


def judges_for(
    seats: Sequence[str],
    author: str,
    count: int,
    *,
    last_critic: str | None = None,
    unavailable: Collection[str] = (),
) -> list[str]:
    """Up to `count` seats that score `author`'s final proposal; the author itself only if no peer is left."""
    peers = [peer for peer in _peers(seats, author, 1) if peer not in unavailable]
    if last_critic in peers:
        peers.remove(last_critic)
        peers.append(last_critic)
    return peers[:count] or [author]
