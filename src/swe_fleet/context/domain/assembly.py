"""GetContext's core: the role's allowed sections, ranked, cut to a token budget that is never exceeded.

The budget covers the three blocks together (system + context + tools), each counted as sent.
Packing runs in two passes over the sections in priority order (the scope policy's): first the
items of each section that are about the request's task (`Section.focus`), then, with what budget
is left, the background items after them. A section that does not fit is shortened (its least
relevant items dropped, with a line saying so) if a useful part fits, else cut. The counts used for
planning are checked on the final blocks, and sections are dropped until the check passes, so the
guarantee holds whatever the tokenizer does at the seams.
"""

from __future__ import annotations

from dataclasses import dataclass

from swe_fleet.context.domain.history import as_of
from swe_fleet.context.domain.model import ContextPack, ContextRequest, StoryGraph
from swe_fleet.context.domain.policy import RolePolicy, ScopePolicy
from swe_fleet.context.domain.redaction import redact
from swe_fleet.context.domain.sections import BUILDERS, Section, omission_line
from swe_fleet.tokens import TokenCounter

BLOCK_SEPARATOR = "\n\n"
ELLIPSIS = "…"
# Below this many tokens a shortened section says too little to be worth its header.
MIN_USEFUL_TOKENS = 12


@dataclass
class _Piece:
    name: str
    block: str  # "context" or "tools"
    priority: int
    section: Section
    header_tokens: int
    item_tokens: list[int]
    keep: int = 0  # leading items kept
    taken: bool = False  # the section is in the pack (a section without items is its header alone)
    text: str | None = None  # set when the section had to be truncated inside its first item

    def tokens(self, counter: TokenCounter, keep: int | None = None) -> int:
        items = self.item_tokens if keep is None else self.item_tokens[:keep]
        total = self.header_tokens + sum(items)
        if keep is not None and keep < len(self.item_tokens):
            total += counter.count(omission_line(len(self.item_tokens) - keep))
        return total

    @property
    def shortened(self) -> bool:
        return self.text is not None or self.keep < len(self.item_tokens)

    def render(self) -> str:
        if self.text is not None:
            return self.text
        return self.section.render(self.keep)


def fit_text(text: str, limit: int, counter: TokenCounter) -> str:
    """`text`, or its longest prefix (ending with an ellipsis) that counts at most `limit` tokens."""
    if limit <= 0 or not text:
        return ""
    if counter.count(text) <= limit:
        return text
    low, high = 0, len(text) - 1  # find the longest prefix length that fits
    best = -1
    while low <= high:
        middle = (low + high) // 2
        if counter.count(text[:middle].rstrip() + ELLIPSIS) <= limit:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    # A real tokenizer is not strictly monotonic in the prefix: step down until the check holds.
    while best >= 0:
        candidate = text[:best].rstrip() + ELLIPSIS
        if counter.count(candidate) <= limit:
            return candidate
        best -= 1
    return ""


def _system_text(rules: RolePolicy, request: ContextRequest, graph: StoryGraph) -> str:
    task = f", task {request.task_id}" if request.task_id else ""
    when = f", as of {request.as_of}" if request.as_of else ""
    return redact(
        f"{rules.mission}\n"
        f"Story {request.story_id}, phase {request.phase}{task}, graph version {graph.version}{when}."
    )


def _tools_section(rules: RolePolicy, request: ContextRequest) -> Section | None:
    if not rules.tools:
        return None
    items = tuple(f"- {redact(tool.name)}: {redact(tool.description)}" for tool in rules.tools)
    # The role's standing tool list is the same on every call: with a task, its facts come first.
    return Section("tools", "## Tools you may use", items, 0 if request.task_id else None)


def _best_keep(piece: _Piece, room: int, upto: int, counter: TokenCounter) -> int:
    """The most leading items (at most `upto`) whose section fits `room`, 0 if not even one."""
    for keep in range(upto, 0, -1):
        if piece.tokens(counter, keep) <= room:
            return keep
    return 0


def _truncate_first(piece: _Piece, limit: int, counter: TokenCounter) -> bool:
    """The header and the start of the first item within `limit`; False if nothing useful fits."""
    if limit < MIN_USEFUL_TOKENS or limit < piece.header_tokens + 1:
        return False
    first = piece.section.items[0] if piece.section.items else ""
    marker = omission_line(len(piece.section.items) - 1) if len(piece.section.items) > 1 else ""
    fixed = counter.count("\n".join(filter(None, [piece.section.header, marker])))
    room = limit - fixed - 1  # the newline between header and item
    start = fit_text(first, room, counter) if room > 0 else ""
    if not start:
        return False
    piece.keep = 1
    piece.text = "\n".join(filter(None, [piece.section.header, start, marker]))
    return True


def _pack(pieces: list[_Piece], remaining: int, separator: int, counter: TokenCounter) -> None:
    """Sets each piece's `keep`: the task's items of every section first, then the background."""
    for focus_pass in (True, False):
        for piece in pieces:
            if piece.text is not None:
                continue  # already cut inside its first item: nothing more fits
            if not piece.item_tokens:
                if not piece.taken and piece.header_tokens + separator <= remaining:
                    piece.taken = True
                    remaining -= piece.header_tokens + separator
                continue
            upto = piece.section.focus_items if focus_pass else len(piece.item_tokens)
            if upto <= piece.keep:
                continue
            spent = piece.tokens(counter, piece.keep) + separator if piece.taken else 0
            keep = _best_keep(piece, remaining + spent - separator, upto, counter)
            if keep > piece.keep:
                piece.keep, piece.taken = keep, True
                remaining += spent - (piece.tokens(counter, keep) + separator)
            elif not piece.taken and _truncate_first(piece, remaining - separator, counter):
                piece.taken = True
                remaining -= piece.tokens(counter, 1) + separator


def assemble(
    graph: StoryGraph, request: ContextRequest, policy: ScopePolicy, counter: TokenCounter
) -> ContextPack:
    """The context pack for `request`; raises ScopeDenied when the policy does not allow it."""
    allowed = policy.allowed_sections(request.role, request.phase)
    rules = policy.roles[request.role]
    budget = max(0, request.token_budget)
    if request.as_of is not None:
        graph = as_of(graph, request.as_of)

    pieces: list[_Piece] = []
    candidates: list[tuple[str, str, int, Section | None]] = [
        (
            name,
            "context",
            policy.sections[name].priority,
            BUILDERS[name](graph, request, policy.sections[name].title),
        )
        for name in allowed
    ]
    candidates.append(("tools", "tools", policy.tools_priority, _tools_section(rules, request)))
    for name, block, priority, section in candidates:
        if section is None:
            continue  # nothing in the graph for it
        counts = counter.count_lines([section.header, *section.items])
        pieces.append(_Piece(name, block, priority, section, counts[0], counts[1:]))
    pieces.sort(key=lambda piece: -piece.priority)

    system = fit_text(_system_text(rules, request, graph), budget, counter)
    separator = counter.count(BLOCK_SEPARATOR)
    _pack(pieces, budget - counter.count(system), separator, counter)
    included = [piece for piece in pieces if piece.taken]

    blocks, total = _within_budget(system, included, budget, counter)

    names_in = [piece.name for piece in included]
    return ContextPack(
        story_id=request.story_id,
        role=request.role,
        phase=request.phase,
        task_id=request.task_id,
        version=graph.version,
        token_budget=request.token_budget,
        token_count=total,
        tokenizer=counter.name,
        blocks=blocks,
        sections_included=tuple(names_in),
        sections_cut=tuple(piece.name for piece in pieces if piece.name not in names_in),
        sections_shortened=tuple(piece.name for piece in included if piece.shortened),
        as_of=request.as_of,
        history=request.history,
    )


def _within_budget(
    system: str, included: list[_Piece], budget: int, counter: TokenCounter
) -> tuple[dict[str, str], int]:
    """The check that makes the budget a guarantee: count what is sent, drop the least important
    (from `included`) until it fits, then shorten the system text; the planning
    counts are exact for the estimate, a tokenizer may differ a bit. Returns the blocks and their count."""
    while True:
        blocks = _blocks(system, included)
        total = sum(counter.count(text) for text in blocks.values())
        if total <= budget or not included:
            break
        included.remove(min(included, key=lambda piece: piece.priority))
    limit = budget
    while total > budget and limit > 0:
        limit -= total - budget
        system = fit_text(system, limit, counter)
        blocks = _blocks(system, included)
        total = sum(counter.count(text) for text in blocks.values())
    if total > budget:
        return {"system": "", "context": "", "tools": ""}, 0
    return blocks, total


def _blocks(system: str, included: list[_Piece]) -> dict[str, str]:
    context = BLOCK_SEPARATOR.join(piece.render() for piece in included if piece.block == "context")
    tools = BLOCK_SEPARATOR.join(piece.render() for piece in included if piece.block == "tools")
    # A last redaction pass over what leaves: a secret split across two fields is caught here too.
    return {"system": redact(system), "context": redact(context), "tools": redact(tools)}
