"""GetContext's core: the role's allowed sections, ranked, cut to a token budget that is never exceeded.

The budget covers the three blocks together (system + context + tools), each counted as sent.
Sections are taken by priority (the scope policy's); one that does not fit whole is shortened
(its least relevant items dropped, with a line saying so) if a useful part fits, else cut. The
counts used for planning are checked on the final blocks, and sections are dropped until the check
passes, so the guarantee holds whatever the tokenizer does at the seams.
"""

from __future__ import annotations

from dataclasses import dataclass

from swe_fleet.context.domain.model import ContextPack, ContextRequest, StoryGraph
from swe_fleet.context.domain.policy import RolePolicy, ScopePolicy
from swe_fleet.context.domain.redaction import redact
from swe_fleet.context.domain.sections import BUILDERS, Section, omission_line
from swe_fleet.context.domain.tokens import TokenCounter

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
    keep: int | None = None  # items kept; None = all
    text: str | None = None  # set when the section had to be truncated inside its first item

    def tokens(self, counter: TokenCounter, keep: int | None = None) -> int:
        items = self.item_tokens if keep is None else self.item_tokens[:keep]
        total = self.header_tokens + sum(items)
        if keep is not None and keep < len(self.item_tokens):
            total += counter.count(omission_line(len(self.item_tokens) - keep))
        return total

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
    return redact(
        f"{rules.mission}\n"
        f"Story {request.story_id}, phase {request.phase}{task}, graph version {graph.version}."
    )


def _tools_section(rules: RolePolicy) -> Section | None:
    if not rules.tools:
        return None
    items = tuple(f"- {redact(tool.name)}: {redact(tool.description)}" for tool in rules.tools)
    return Section("tools", "## Tools you may use", items)


def _shorten(piece: _Piece, limit: int, counter: TokenCounter) -> bool:
    """Keep as many leading items of `piece` as fit `limit`; False if nothing useful fits."""
    if limit < MIN_USEFUL_TOKENS or limit < piece.header_tokens + 1:
        return False
    for keep in range(len(piece.item_tokens) - 1, 0, -1):
        if piece.tokens(counter, keep) <= limit:
            piece.keep = keep
            return True
    # Not even one whole item: the header and the start of the first item.
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


def assemble(
    graph: StoryGraph, request: ContextRequest, policy: ScopePolicy, counter: TokenCounter
) -> ContextPack:
    """The context pack for `request`; raises ScopeDenied when the policy does not allow it."""
    allowed = policy.allowed_sections(request.role, request.phase)
    rules = policy.roles[request.role]
    budget = max(0, request.token_budget)

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
    candidates.append(("tools", "tools", policy.tools_priority, _tools_section(rules)))
    for name, block, priority, section in candidates:
        if section is None:
            continue  # nothing in the graph for it
        counts = counter.count_lines([section.header, *section.items])
        pieces.append(_Piece(name, block, priority, section, counts[0], counts[1:]))
    pieces.sort(key=lambda piece: -piece.priority)

    system = fit_text(_system_text(rules, request, graph), budget, counter)
    separator = counter.count(BLOCK_SEPARATOR)
    remaining = budget - counter.count(system)
    included: list[_Piece] = []
    shortened: set[str] = set()
    for piece in pieces:
        room = remaining - separator
        full = piece.tokens(counter)
        if full <= room:
            included.append(piece)
            remaining -= full + separator
        elif _shorten(piece, room, counter):
            included.append(piece)
            shortened.add(piece.name)
            remaining -= piece.tokens(counter, piece.keep) + separator

    blocks, total = _within_budget(system, included, shortened, budget, counter)
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
        sections_shortened=tuple(name for name in names_in if name in shortened),
    )


def _within_budget(
    system: str, included: list[_Piece], shortened: set[str], budget: int, counter: TokenCounter
) -> tuple[dict[str, str], int]:
    """The check that makes the budget a guarantee: count what is sent, drop the least important
    (from `included` and `shortened`) until it fits, then shorten the system text; the planning
    counts are exact for the estimate, a tokenizer may differ a bit. Returns the blocks and their count."""
    while True:
        blocks = _blocks(system, included)
        total = sum(counter.count(text) for text in blocks.values())
        if total <= budget or not included:
            break
        dropped = min(included, key=lambda piece: piece.priority)
        included.remove(dropped)
        shortened.discard(dropped.name)
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
