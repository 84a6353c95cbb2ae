"""Objective checks of a proposal: mechanical tests that a proposal can really fail.

The judges' scores are an LLM's opinion; these are facts. A claimed artifact must parse in the
language it claims, the text must be free of placeholders, the steps must be concrete and must talk
about the task at hand, the risks must be named, and a revision must really have changed something.
A check that does not apply (no artifact, first version) is recorded but left out of the score.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from swe_fleet.events.agent_protocol import Proposal, Revision
from swe_fleet.events.payloads import ObjectiveCheck, TaskSpec

# How much each check counts in the objective part of the score (relative weights).
CHECK_WEIGHTS: dict[str, float] = {
    "artifact_parses": 3.0,
    "no_placeholders": 2.0,
    "steps_concrete": 2.0,
    "addresses_task": 2.0,
    "length_bounds": 1.0,
    "risks_considered": 1.0,
    "revised_after_critique": 1.0,
}

PLACEHOLDERS = re.compile(
    r"\bTODO\b|\bTBD\b|\bFIXME\b|\bXXX\b|lorem ipsum|\bas an ai\b|as an? (?:large )?language model"
    r"|<insert[^>]*>|\[(?:insert|placeholder|your)[^\]]*\]|\bplaceholder\b",
    re.IGNORECASE,
)
# Words that say nothing about what a task is about (kept as text: a list literal would run for pages).
_STOPWORD_TEXT = (
    "about above after again against all also and any are because been before being below between both "
    "but can could did does doing down during each few for from further had has have having here how "
    "into its itself just more most must need needs not now off once only other our out over own same "
    "should some such than that the their them then there these they this those through too under "
    "until use used using very was were what when where which while who whom why will with would you "
    "your task tasks story make made new add adds added ensure"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_SQL_KEYWORD_TEXT = (
    "select insert update delete create alter drop with begin commit rollback grant revoke truncate "
    "merge explain set comment values replace upsert do declare analyze vacuum"
)
SQL_KEYWORDS = frozenset(_SQL_KEYWORD_TEXT.split())


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    detail: str
    applicable: bool = True

    @property
    def weight(self) -> float:
        return CHECK_WEIGHTS.get(self.name, 1.0) if self.applicable else 0.0

    def as_record(self) -> ObjectiveCheck:
        detail = self.detail if self.applicable else f"not applicable: {self.detail}"
        return ObjectiveCheck(name=self.name, passed=self.passed, detail=detail[:500])


def run_checks(
    proposal: Proposal,
    *,
    task: TaskSpec,
    acceptance_criteria: Sequence[str],
    previous: Proposal | None = None,
) -> list[CheckOutcome]:
    """Every check on `proposal`; `previous` is the version it revised (None for a first version)."""
    return [
        artifact_parses(proposal.artifact, proposal.artifact_language),
        no_placeholders(proposal),
        steps_concrete(proposal.steps),
        addresses_task(proposal, task, acceptance_criteria),
        length_bounds(proposal),
        risks_considered(proposal.risks),
        revised_after_critique(proposal, previous),
    ]


def objective_score(outcomes: Sequence[CheckOutcome]) -> float:
    """0..10: the weighted share of applicable checks that passed."""
    total = sum(o.weight for o in outcomes)
    if total <= 0:
        return 10.0
    return 10.0 * sum(o.weight for o in outcomes if o.passed) / total


# ------------------------------------------------------------------ the checks


def artifact_parses(artifact: str, language: str) -> CheckOutcome:
    name = "artifact_parses"
    language = language.strip().lower()
    if not artifact.strip():
        if language:
            return CheckOutcome(name, False, f"declares a {language} artifact but carries none")
        return CheckOutcome(name, True, "no artifact claimed", applicable=False)
    if not language:
        return CheckOutcome(name, False, "an artifact without artifact_language cannot be checked")
    parser = _PARSERS.get(language)
    if parser is None:
        return CheckOutcome(name, True, f"no parser for {language!r}", applicable=False)
    problem = parser(artifact)
    if problem:
        return CheckOutcome(name, False, f"{language} artifact does not parse: {problem}")
    return CheckOutcome(name, True, f"{language} artifact parses ({len(artifact)} characters)")


def _python_problem(text: str) -> str | None:
    try:
        ast.parse(text)
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}"
    except ValueError as error:  # e.g. null bytes
        return str(error)
    return None


def _json_problem(text: str) -> str | None:
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return f"line {error.lineno} column {error.colno}: {error.msg}"
    return None


def _yaml_problem(text: str) -> str | None:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return f"{where}{getattr(error, 'problem', None) or error}"
    if not any(isinstance(document, dict | list) for document in documents):
        return "it is a plain scalar, not a document of mappings or lists"
    return None


def _strip_sql(text: str) -> tuple[str, str | None]:
    """SQL without comments and string literals (replaced by ''), or the problem found on the way."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return "", "unterminated /* comment"
            i = end + 2
        elif ch in "'\"":
            j = i + 1
            while j < n:
                if text[j] == ch and text.startswith(ch * 2, j):
                    j += 2
                    continue
                if text[j] == ch:
                    break
                j += 1
            if j >= n:
                return "", f"unterminated {ch} quoted text"
            out.append("''")
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out), None


def _sql_problem(text: str) -> str | None:
    stripped, problem = _strip_sql(text)
    if problem:
        return problem
    depth = 0
    for ch in stripped:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return "a ')' closes nothing"
    if depth:
        return f"{depth} '(' left open"
    statements = [s.strip() for s in stripped.split(";") if s.strip()]
    if not statements:
        return "no statement"
    for number, statement in enumerate(statements, start=1):
        first = re.split(r"[\s(]+", statement, maxsplit=1)[0].lower()
        if first not in SQL_KEYWORDS:
            return f"statement {number} starts with {first!r}, not an SQL command"
    return None


def _shell_problem(text: str) -> str | None:
    try:
        words = shlex.split(text, comments=True)
    except ValueError as error:
        return str(error)
    for opening, closing in (("if", "fi"), ("case", "esac"), ("do", "done")):
        if words.count(opening) != words.count(closing):
            return f"{words.count(opening)} '{opening}' but {words.count(closing)} '{closing}'"
    return None


_PARSERS = {
    "python": _python_problem,
    "py": _python_problem,
    "json": _json_problem,
    "yaml": _yaml_problem,
    "yml": _yaml_problem,
    "sql": _sql_problem,
    "shell": _shell_problem,
    "bash": _shell_problem,
    "sh": _shell_problem,
}


def _all_text(proposal: Proposal) -> str:
    return "\n".join([proposal.summary, proposal.approach, *proposal.steps, *proposal.risks])


def no_placeholders(proposal: Proposal) -> CheckOutcome:
    text = _all_text(proposal) + "\n" + proposal.artifact
    found = sorted({match.group(0) for match in PLACEHOLDERS.finditer(text)})
    if found:
        return CheckOutcome("no_placeholders", False, "placeholder text: " + ", ".join(map(repr, found[:5])))
    return CheckOutcome("no_placeholders", True, "no placeholder text")


def steps_concrete(steps: Sequence[str]) -> CheckOutcome:
    name = "steps_concrete"
    real = [step for step in steps if len(step.split()) >= 3]
    if len(real) < 2:
        return CheckOutcome(name, False, f"{len(real)} step(s) of 3 words or more; at least 2 are needed")
    normal = [" ".join(step.lower().split()) for step in steps]
    if len(set(normal)) < len(normal):
        return CheckOutcome(name, False, "repeats a step word for word")
    return CheckOutcome(name, True, f"{len(real)} concrete steps")


def terms(text: str) -> set[str]:
    """Content words, lower-cased and crudely stemmed, for comparing a proposal with its task."""
    found = set()
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if len(word) < 4 or word in STOPWORDS or word.isdigit():
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)]
                break
        found.add(word)
    return found


def addresses_task(proposal: Proposal, task: TaskSpec, acceptance_criteria: Sequence[str]) -> CheckOutcome:
    name = "addresses_task"
    said = terms(_all_text(proposal) + "\n" + proposal.artifact)
    title_terms = terms(task.title)
    criteria_terms = terms(" ".join(acceptance_criteria))
    if not title_terms and not criteria_terms:
        return CheckOutcome(name, True, "the task has no content words to look for", applicable=False)
    title_hit = title_terms & said
    criteria_hit = criteria_terms & said
    detail = f"mentions {len(title_hit)}/{len(title_terms)} title terms"
    if criteria_terms:
        detail += f" and {len(criteria_hit)}/{len(criteria_terms)} acceptance-criteria terms"
    missing = sorted(title_terms - said)[:5]
    if missing:
        detail += f"; missing: {', '.join(missing)}"
    title_ok = not title_terms or len(title_hit) * 2 >= len(title_terms)
    criteria_ok = not criteria_terms or len(criteria_hit) * 4 >= len(criteria_terms)
    return CheckOutcome(name, title_ok and criteria_ok, detail)


def length_bounds(proposal: Proposal) -> CheckOutcome:
    name = "length_bounds"
    total = len(_all_text(proposal))
    summary, approach = len(proposal.summary.strip()), len(proposal.approach.strip())
    if summary < 20:
        return CheckOutcome(name, False, f"summary of {summary} characters (20 or more)")
    if approach < 80:
        return CheckOutcome(name, False, f"approach of {approach} characters (80 or more)")
    if not 200 <= total <= 20000:
        return CheckOutcome(name, False, f"{total} characters of prose (200 to 20000)")
    return CheckOutcome(name, True, f"{total} characters of prose")


def risks_considered(risks: Sequence[str]) -> CheckOutcome:
    named = [risk for risk in risks if len(risk.split()) >= 3]
    if not named:
        return CheckOutcome("risks_considered", False, "names no risk (of 3 words or more)")
    return CheckOutcome("risks_considered", True, f"{len(named)} risk(s) named")


def revised_after_critique(proposal: Proposal, previous: Proposal | None) -> CheckOutcome:
    name = "revised_after_critique"
    if previous is None:
        return CheckOutcome(name, True, "first version, never revised", applicable=False)
    changes = proposal.changes if isinstance(proposal, Revision) else []
    same = (
        proposal.summary == previous.summary
        and proposal.approach == previous.approach
        and list(proposal.steps) == list(previous.steps)
        and proposal.artifact == previous.artifact
    )
    if same:
        return CheckOutcome(name, False, "the revision is identical to the version critiqued")
    if not changes:
        return CheckOutcome(name, False, "the revision lists no changes made after the critique")
    return CheckOutcome(name, True, f"{len(changes)} change(s) listed after the critique")
