"""Rehydration quality: does a pack hold what the agent needs, within the budget, and nothing forbidden?

Deterministic, no LLM: generated stories with planted facts (bench/rehydration_cases.py) and, for each
(story, role, task), the facts that task needs. Three contenders pack the same cases at each budget:

- fleet: GetContext's assembler (`context.domain.assembly.assemble`) with the shipped scope policy;
- dump: the whole story serialised, one line per record with its time, newest first, cut at the
  budget (the role's mission first, as every contender sends it);
- original: the original system's approach: the scope check is not enforced (fail-open: every section
  is packed whatever the role and phase), the budget is counted in words, and a decision has no
  validity (one that was replaced stays APPROVED beside its replacement).

Every contender's text is measured with the same counter (`counter`: the fleet's estimate, or the
model's tokenizer when given). Per case and budget: recall (needed facts present whole), the share of
the budget spent on lines carrying facts the task does not need (noise), facts the scope policy
forbids that appear (even in part), superseded decisions shown as current, and the tokens sent.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bench.harness import BenchContext
from bench.rehydration_cases import Case, generate
from swe_fleet.context.domain.assembly import BLOCK_SEPARATOR, fit_text
from swe_fleet.context.domain.assembly import assemble as fleet_assemble
from swe_fleet.context.domain.model import StoryGraph
from swe_fleet.context.domain.policy import ScopePolicy, load_policy
from swe_fleet.context.domain.sections import BUILDERS, Section
from swe_fleet.embedded.child import EmbeddedServerError, free_port
from swe_fleet.embedded.llm_server import EmbeddedLlamaServer
from swe_fleet.llm.tokenizer import llama_cpp_counter
from swe_fleet.tokens import EstimatingCounter, TokenCounter

BUDGETS = (256, 512, 1024, 2048)
CONTENDERS = ("fleet", "dump", "original", "original_cut")
STORIES, QUICK_STORIES = 40, 12
ALIAS = "gemma-3-270m"
REF = re.compile(r"\[f\d+\]")


def _mission(policy: ScopePolicy, case: Case) -> str:
    request = case.request
    return (
        f"{policy.roles[request.role].mission}\n"
        f"Story {request.story_id}, phase {request.phase}, task {request.task_id}."
    )


def fleet(case: Case, budget: int, policy: ScopePolicy, counter: TokenCounter) -> list[str]:
    pack = fleet_assemble(case.graph, replace(case.request, token_budget=budget), policy, counter)
    return [text for text in pack.blocks.values() if text]


def _dump_records(graph: StoryGraph) -> list[tuple[str, str]]:
    """Every record of the story as (time, line); what has no time of its own takes its origin's."""
    created = min((t.at or "" for t in graph.transitions), default="")
    approved = max((p.status_at or "" for p in graph.plans if p.status == "APPROVED"), default=created)
    story = graph.story
    records = [(created, f"story {story.id}: {story.title}. {story.brief}")]
    records += [(created, f"acceptance criterion: {text}") for text in story.acceptance_criteria]
    records += [
        (p.status_at or "", f"plan {p.id} {p.status}: {p.description} {p.technical_notes or ''}".rstrip())
        for p in graph.plans
    ]
    records += [(e.at or "", f"plan {e.plan_id} {e.kind} by {e.by}: {e.text}") for e in graph.plan_events]
    records += [
        (t.at or "", f"phase {t.from_state} -> {t.to_state} by {t.by}: {t.reason}") for t in graph.transitions
    ]
    for task in graph.tasks:
        deps = f" (depends on {', '.join(task.depends_on)})" if task.depends_on else ""
        records.append(
            (approved, f"task {task.id} [{task.role}, {task.status}] {task.title}: {task.description}{deps}")
        )
    for d in graph.decisions:
        history = f" (superseded by {d.superseded_by} at {d.superseded_at})" if d.superseded_by else ""
        scope = f" task {d.task_id}" if d.task_id else ""
        records.append(
            (
                d.at or "",
                f"decision {d.id} [{d.status}]{scope} {d.title}: {d.rationale} (by {d.decided_by}){history}",
            )
        )
    for d in graph.deliberations:
        criteria = " ".join(d.winner_criteria)
        records.append(
            (
                d.completed_at or "",
                f"deliberation on {d.task_id}: selected {d.winner_agent_id}, score {d.winner_score}: "
                f"{d.winner_content} {criteria}",
            )
        )
    records += [(x.at or "", f"dispatch {x.task_id} -> {x.agent_id} ({x.role})") for x in graph.dispatches]
    return records


def dump(case: Case, budget: int, policy: ScopePolicy, counter: TokenCounter) -> list[str]:
    mission = fit_text(_mission(policy, case), budget, counter)
    room = budget - counter.count(mission) - counter.count(BLOCK_SEPARATOR)
    records = sorted(_dump_records(case.graph), key=lambda record: record[0], reverse=True)
    lines, used = [], 0
    for _, line in records:  # whole lines while they fit, then the next one cut at the budget
        cost = counter.count(line) + 1
        if used + cost > room:
            lines.append(fit_text(line, room - used - 1, counter))
            break
        lines.append(line)
        used += cost
    body = "\n".join(line for line in lines if line)
    while lines and counter.count(body) > room:  # a tokenizer's seams may differ from the line sums
        lines.pop()
        body = "\n".join(line for line in lines if line)
    return [text for text in (mission, body) if text]


def _without_validity(graph: StoryGraph) -> StoryGraph:
    decisions = tuple(
        replace(d, superseded_by=None, superseded_at=None, supersedes=()) for d in graph.decisions
    )
    return replace(graph, decisions=decisions)


def _first_words(text: str, words: int) -> str:
    if words <= 0:
        return ""
    for count, match in enumerate(re.finditer(r"\S+", text), start=1):
        if count == words:
            return text[: match.end()]
    return text


def original(case: Case, budget: int, policy: ScopePolicy, counter: TokenCounter) -> list[str]:
    graph, request = _without_validity(case.graph), replace(case.request, token_budget=budget)
    ranked = sorted(policy.sections, key=lambda name: -policy.sections[name].priority)
    sections: list[Section | None] = [
        BUILDERS[name](graph, request, policy.sections[name].title) for name in ranked
    ]
    text = BLOCK_SEPARATOR.join(
        [_mission(policy, case), *(section.render() for section in sections if section is not None)]
    )
    return [_first_words(text, budget)]


def original_cut(case: Case, budget: int, policy: ScopePolicy, counter: TokenCounter) -> list[str]:
    """The original's pack cut where the budget really ends (it counts words, so it sends more)."""
    return [fit_text(original(case, budget, policy, counter)[0], budget, counter)]


PACKERS: dict[str, Callable[[Case, int, ScopePolicy, TokenCounter], list[str]]] = {
    "fleet": fleet,
    "dump": dump,
    "original": original,
    "original_cut": original_cut,
}


@dataclass
class Score:
    recall: float
    noise_share: float
    forbidden: int
    superseded_as_current: int
    tokens: int


def score(case: Case, parts: list[str], budget: int, counter: TokenCounter) -> Score:
    text = "\n".join(parts)
    noise = {fact.ref for fact in case.noise}
    superseded = {fact.ref for fact in case.superseded}
    noise_tokens, shown_current = 0, 0
    for line in text.splitlines():
        refs = set(REF.findall(line))
        if refs & noise:
            noise_tokens += counter.count(line)
        if refs & superseded and "supersed" not in line.lower():
            shown_current += len(refs & superseded)
    found = set(REF.findall(text))
    return Score(
        recall=sum(fact.text in text for fact in case.needed) / len(case.needed),
        noise_share=noise_tokens / budget,
        forbidden=sum(fact.ref in found for fact in case.forbidden),
        superseded_as_current=shown_current,
        tokens=sum(counter.count(part) for part in parts),
    )


def measure(cases: list[Case], policy: ScopePolicy, counter: TokenCounter) -> dict[str, Any]:
    """Per contender and budget: mean recall and noise share, totals of the violations, tokens sent."""
    out: dict[str, Any] = {}
    for name in CONTENDERS:
        packer = PACKERS[name]
        figures: dict[str, Any] = {}
        for budget in BUDGETS:
            scores = [score(case, packer(case, budget, policy, counter), budget, counter) for case in cases]
            figures[f"recall_at_{budget}"] = round(statistics.mean(s.recall for s in scores), 3)
            figures[f"noise_share_at_{budget}"] = round(statistics.mean(s.noise_share for s in scores), 3)
            figures[f"forbidden_at_{budget}"] = sum(s.forbidden for s in scores)
            figures[f"superseded_as_current_at_{budget}"] = sum(s.superseded_as_current for s in scores)
            figures[f"tokens_mean_at_{budget}"] = round(statistics.mean(s.tokens for s in scores))
            figures[f"tokens_max_at_{budget}"] = max(s.tokens for s in scores)
        out[name] = figures
    return out


class _Memo:
    """A counter whose per-line counts are remembered (the same sections are packed at every budget)."""

    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter
        self.name = counter.name
        self._lines: dict[tuple[str, ...], list[int]] = {}
        self._texts: dict[str, int] = {}

    def count(self, text: str) -> int:
        if text not in self._texts:
            self._texts[text] = self._counter.count(text)
        return self._texts[text]

    def count_lines(self, lines: Sequence[str]) -> list[int]:
        key = tuple(lines)
        if key not in self._lines:
            self._lines[key] = self._counter.count_lines(lines)
        return self._lines[key]


@contextlib.contextmanager
def model_tokenizer(ctx: BenchContext) -> Iterator[TokenCounter | None]:
    """The local model's own tokenizer (llama-server `/tokenize`, no generation), or None if not installed."""
    try:
        server = EmbeddedLlamaServer(
            ctx.scratch / "llm", port=free_port(), parallel=1, context_per_slot=512, threads=1
        ).start()
    except (EmbeddedServerError, OSError) as error:
        print(f"bench: rehydration: no local model tokenizer ({error}); the estimate only", file=sys.stderr)
        yield None
        return
    tokenizer = llama_cpp_counter(server.url, cache_size=1_000_000)
    try:
        yield _Memo(tokenizer) if tokenizer is not None else None
    finally:
        if tokenizer is not None:
            tokenizer.close()
        server.stop()


async def run(ctx: BenchContext) -> dict[str, Any]:
    policy = load_policy()
    cases = generate(QUICK_STORIES if ctx.quick else STORIES)
    estimate = measure(cases, policy, EstimatingCounter())
    with model_tokenizer(ctx) as model:
        results: dict[str, Any] = measure(cases, policy, model) if model else dict(estimate)
        counter_name = f"{model.name} ({ALIAS})" if model else "estimate"
    results["estimate"] = estimate
    fleet_at, dump_at = results["fleet"]["recall_at_512"], results["dump"]["recall_at_512"]
    results.update(
        cases=len(cases),
        stories=len({case.request.story_id for case in cases}),
        needed_facts_mean=round(statistics.mean(len(case.needed) for case in cases), 1),
        tokenizer=counter_name,
        budgets=list(BUDGETS),
        targets={
            "fleet.recall_at_512>=0.9": fleet_at >= 0.9,
            "dump.recall_at_512<=0.5": dump_at <= 0.5,
            "fleet.forbidden==0": all(results["fleet"][f"forbidden_at_{b}"] == 0 for b in BUDGETS),
            "fleet.superseded_as_current==0": all(
                results["fleet"][f"superseded_as_current_at_{b}"] == 0 for b in BUDGETS
            ),
        },
    )
    return results


def render(r: dict[str, Any]) -> str:
    met = r.get("targets", {})

    def mark(key: str) -> str:
        return "met" if met.get(key) else "NOT met"

    header = "| contender | " + " | ".join(f"{b}" for b in r["budgets"]) + " |"
    rule = "|---|" + "---:|" * len(r["budgets"])

    def rows(figures: dict[str, Any], metric: str, fmt: Callable[[Any], str]) -> list[str]:
        return [
            f"| {name} | " + " | ".join(fmt(figures[name][f"{metric}_at_{b}"]) for b in r["budgets"]) + " |"
            for name in CONTENDERS
        ]

    def table(title: str, metric: str, fmt: Callable[[Any], str], figures: dict[str, Any] = r) -> list[str]:
        return [f"**{title}** (by token budget)", "", header, rule, *rows(figures, metric, fmt), ""]

    estimate = r.get("estimate", {})
    with_estimate = (
        [
            "The same cases with the service's own estimate as the counter (what it uses when no LLM server "
            "with a tokenizer is configured; it errs high, about 4x on English prose, see ADR 0204):",
            "",
            *table("Recall of needed facts, estimate", "recall", lambda v: f"{v:.2f}", estimate),
            *table("Tokens sent (estimate), mean", "tokens_mean", str, estimate),
        ]
        if estimate and r["tokenizer"] != "estimate"
        else []
    )

    return "\n".join(
        [
            "## Context: rehydration quality (issue 16)",
            "",
            f"{r['cases']} cases (a task about to be deliberated, its role, the story's phase) from "
            f"{r['stories']} generated stories (bench/rehydration_cases.py, fixed seed); "
            f"{r['needed_facts_mean']} needed facts per case on average (acceptance criteria, the PO's "
            "condition, the task's description, current decisions about the task or the whole story, "
            "alternatives rejected for it, results of the tasks it depends on), among noise (other tasks' "
            "decisions, proposals and judges' notes, other stories' decisions, phase history). Contenders: "
            "**fleet** = GetContext's assembler with the shipped scope policy; **dump** = the whole story "
            "serialised, newest first, cut at the budget; **original** = the original system's approach "
            "(scope check not enforced, budget counted in words, no decision validity), which sends more "
            "than the budget; **original_cut** = its pack cut where the budget really ends. Every text is "
            f"measured with the same counter: `{r['tokenizer']}`.",
            "",
            *table("Recall of needed facts (whole)", "recall", lambda v: f"{v:.2f}"),
            *table("Share of the budget spent on noise", "noise_share", lambda v: f"{v:.2f}"),
            *table("Facts the scope forbids, shown (total over cases)", "forbidden", str),
            *table("Superseded decisions shown as current (total over cases)", "superseded_as_current", str),
            *table("Tokens sent, mean", "tokens_mean", str),
            f"Goals: fleet recall >= 0.9 at 512 tokens: {mark('fleet.recall_at_512>=0.9')} "
            f"({r['fleet']['recall_at_512']:.2f}); dump <= 0.5 at 512: {mark('dump.recall_at_512<=0.5')} "
            f"({r['dump']['recall_at_512']:.2f}); fleet never shows a forbidden fact: "
            f"{mark('fleet.forbidden==0')}; nor a superseded decision as current: "
            f"{mark('fleet.superseded_as_current==0')}.",
            "",
            *with_estimate,
        ]
    )
