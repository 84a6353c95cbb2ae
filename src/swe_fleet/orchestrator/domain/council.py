"""Council configuration: who sits on each role's council, how long they deliberate, what they are judged on.

Read from YAML (the packaged `orchestrator/councils.yaml` unless settings name another file) and
validated at start-up: a bad entry stops the process with an error naming the entry and its line.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from swe_fleet.errors import ConfigurationError
from swe_fleet.events.agent_protocol import RubricCriterion
from swe_fleet.events.payloads import Role

DEFAULT_COUNCILS_FILE = Path(__file__).resolve().parent.parent / "councils.yaml"


class DeliberationPhase(StrEnum):
    GENERATE = "generate"
    CRITIQUE = "critique"
    REVISE = "revise"
    SCORE = "score"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhaseDeadlines(_Strict):
    """Seconds a phase may wait for its agents before the missing ones are recorded as timed out."""

    generate: float = Field(default=300.0, gt=0)
    critique: float = Field(default=240.0, gt=0)
    revise: float = Field(default=300.0, gt=0)
    score: float = Field(default=180.0, gt=0)

    def seconds(self, phase: DeliberationPhase) -> float:
        return float(getattr(self, phase.value))


class ScoringWeights(_Strict):
    """How the judges' rubric scores and the objective checks combine into a proposal's total (0..10)."""

    judges: float = Field(default=0.6, ge=0)
    checks: float = Field(default=0.4, ge=0)

    @model_validator(mode="after")
    def _not_both_zero(self) -> ScoringWeights:
        if self.judges + self.checks <= 0:
            raise ValueError("judges and checks weights cannot both be 0")
        return self


class CriterionConfig(_Strict):
    criterion: str = Field(min_length=1, max_length=60)
    description: str = Field(min_length=1, max_length=500)
    weight: float = Field(default=1.0, gt=0)

    def as_rubric(self) -> RubricCriterion:
        return RubricCriterion(criterion=self.criterion, description=self.description, weight=self.weight)


class CouncilDefaults(_Strict):
    agents: int = Field(default=3, ge=1, le=9)
    # 0: no critique or revision, the proposals go straight to the judges (ADR 0209's bench)
    rounds: int = Field(default=1, ge=0, le=5, description="critique/revise rounds")
    judges_per_proposal: int = Field(default=2, ge=1, le=8)
    token_budget: int = Field(default=2048, ge=64)
    deadlines: PhaseDeadlines = PhaseDeadlines()
    scoring: ScoringWeights = ScoringWeights()


class CouncilEntry(_Strict):
    """One role's council in the file: anything left out comes from `defaults`."""

    agents: int | None = Field(default=None, ge=1, le=9)
    rounds: int | None = Field(default=None, ge=0, le=5)
    judges_per_proposal: int | None = Field(default=None, ge=1, le=8)
    token_budget: int | None = Field(default=None, ge=64)
    deadlines: PhaseDeadlines | None = None
    scoring: ScoringWeights | None = None
    rubric: list[CriterionConfig] = Field(min_length=1, max_length=12)

    @model_validator(mode="after")
    def _unique_criteria(self) -> CouncilEntry:
        names = [criterion_key(c.criterion) for c in self.rubric]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rubric criteria must be unique; repeated: {', '.join(duplicates)}")
        return self


class DerivationConfig(_Strict):
    role: Role = Role.ARCHITECT
    max_attempts: int = Field(default=3, ge=1, le=10)
    max_tasks: int = Field(default=6, ge=1, le=12)
    deadline_seconds: float = Field(default=300.0, gt=0)
    max_estimate_hours: float = Field(default=80.0, gt=0, le=200)
    token_budget: int = Field(default=3072, ge=64)


class CouncilsFile(_Strict):
    defaults: CouncilDefaults = CouncilDefaults()
    derivation: DerivationConfig = DerivationConfig()
    councils: dict[Role, CouncilEntry]

    @model_validator(mode="after")
    def _every_role_has_a_council(self) -> CouncilsFile:
        missing = [role.value for role in Role if role not in self.councils]
        if missing:
            raise ValueError(f"every role needs a council; missing: {', '.join(missing)}")
        return self


class Council(_Strict):
    """One role's council as a deliberation uses it (frozen into the deliberation when it starts)."""

    role: Role
    agents: int = Field(ge=1, le=9)
    rounds: int = Field(ge=0, le=5)
    judges_per_proposal: int = Field(ge=1, le=8)
    token_budget: int = Field(ge=64)
    deadlines: PhaseDeadlines
    scoring: ScoringWeights
    rubric: list[RubricCriterion] = Field(min_length=1)

    @property
    def agent_ids(self) -> list[str]:
        """Council seats: stable names (dev-1, dev-2...) so the graph can follow an agent across tasks."""
        return [agent_id(self.role, seat) for seat in range(1, self.agents + 1)]


class Councils(_Strict):
    derivation: DerivationConfig
    councils: dict[Role, Council]

    def for_role(self, role: Role) -> Council:
        return self.councils[role]

    @property
    def deriving_agent(self) -> str:
        return agent_id(self.derivation.role, 1)

    def with_overrides(
        self,
        *,
        agents: int | None = None,
        rounds: int | None = None,
        judges_per_proposal: int | None = None,
        deadline_seconds: float | None = None,
    ) -> Councils:
        """The same councils with settings forced (FLEET_COUNCIL_AGENTS, _ROUNDS, _JUDGES,
        _DEADLINE_SECONDS)."""
        changes: dict[str, Any] = {}
        if agents is not None:
            changes["agents"] = agents
        if rounds is not None:
            changes["rounds"] = rounds
        if judges_per_proposal is not None:
            changes["judges_per_proposal"] = judges_per_proposal
        if deadline_seconds is not None:
            changes["deadlines"] = PhaseDeadlines(
                generate=deadline_seconds,
                critique=deadline_seconds,
                revise=deadline_seconds,
                score=deadline_seconds,
            )
        derivation = self.derivation
        if deadline_seconds is not None:
            derivation = derivation.model_copy(update={"deadline_seconds": deadline_seconds})
        return Councils(
            derivation=derivation,
            councils={role: council.model_copy(update=changes) for role, council in self.councils.items()},
        )


def agent_id(role: Role, seat: int) -> str:
    return f"{role.value.lower()}-{seat}"


def criterion_key(name: str) -> str:
    """Criterion names compare without case, spaces or punctuation ("Test coverage" == "test_coverage")."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


class CouncilConfigError(ConfigurationError):
    """The councils file is unusable; the message names the file, the entry and its line."""


def resolve(document: CouncilsFile) -> Councils:
    defaults = document.defaults
    councils = {}
    for role, entry in document.councils.items():
        councils[role] = Council(
            role=role,
            agents=entry.agents or defaults.agents,
            rounds=defaults.rounds if entry.rounds is None else entry.rounds,
            judges_per_proposal=entry.judges_per_proposal or defaults.judges_per_proposal,
            token_budget=entry.token_budget or defaults.token_budget,
            deadlines=entry.deadlines or defaults.deadlines,
            scoring=entry.scoring or defaults.scoring,
            rubric=[criterion.as_rubric() for criterion in entry.rubric],
        )
    return Councils(derivation=document.derivation, councils=councils)


def parse_councils(text: str, *, source: str = "councils.yaml") -> Councils:
    """Validate a councils document; raise CouncilConfigError naming the bad entry and its line."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CouncilConfigError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise CouncilConfigError(f"{source}: expected a mapping with 'councils' at the top level")
    try:
        return resolve(CouncilsFile.model_validate(data))
    except ValidationError as error:
        first = error.errors()[0]
        location = [str(part) for part in first["loc"]]
        # The node tree (for the line number) only when there is an error to place: it doubles the parse.
        line = _line_of(yaml.compose(text), location)
        where = ".".join(location) or "<root>"
        at_line = f" (line {line})" if line else ""
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise CouncilConfigError(f"{source}: {where}{at_line}: {first['msg']}{more}") from None


def load_councils(path: Path | None = None) -> Councils:
    path = path or DEFAULT_COUNCILS_FILE
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise CouncilConfigError(f"cannot read councils file {path}: {error.strerror or error}") from None
    return parse_councils(text, source=str(path))


def _line_of(node: Any, location: list[str]) -> int | None:
    """The 1-based line of the YAML node at `location` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == part:
                    child = value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            child = node.value[int(part)]
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line
