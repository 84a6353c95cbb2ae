"""The scope policy: which sections of a story's context each role may see in each story phase.

Declared in YAML (`context/scope_policy.yaml`), validated at start-up by the models below with an
error naming the bad entry, and checked fail-closed: a role or a phase the policy does not name is
refused, never waved through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from swe_fleet.errors import ConfigurationError
from swe_fleet.events.payloads import StoryState

# The sections the assembler knows how to build (see sections.py).
SECTION_NAMES = frozenset(
    {
        "story",
        "acceptance_criteria",
        "plan",
        "plan_history",
        "phase_history",
        "task",
        "tasks",
        "decisions",
        "deliberation",
        "dispatches",
    }
)


class ScopeDenied(PermissionError):
    """The policy does not let this role see this story in this phase (the API answers 403)."""


class PolicyError(ConfigurationError):
    """The policy file is invalid; the message names the entry."""


class SectionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Higher is kept longer when the budget is tight.
    priority: int = Field(ge=0, le=1000)
    title: str = Field(min_length=1)


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)


class RolePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mission: str = Field(min_length=1, description="The role's standing instruction (system block)")
    tools: tuple[ToolSpec, ...] = ()
    # phase -> the sections this role sees in that phase; a phase not listed is refused.
    phases: dict[StoryState, tuple[str, ...]]

    @field_validator("phases")
    @classmethod
    def _known_sections(cls, phases: dict[StoryState, tuple[str, ...]]) -> dict[StoryState, tuple[str, ...]]:
        for phase, sections in phases.items():
            unknown = [name for name in sections if name not in SECTION_NAMES]
            if unknown:
                raise ValueError(f"phase {phase.value}: unknown sections {unknown}")
        return phases


class ScopePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(ge=1)
    sections: dict[str, SectionRule]
    tools_priority: int = Field(ge=0, le=1000, default=50)
    roles: dict[str, RolePolicy]

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, document: Any) -> Any:
        # `x-...` keys hold YAML anchors shared by several entries; they are not policy.
        if isinstance(document, dict):
            return {key: value for key, value in document.items() if not str(key).startswith("x-")}
        return document

    @model_validator(mode="after")
    def _every_section_ranked(self) -> ScopePolicy:
        missing = SECTION_NAMES - set(self.sections)
        unknown = set(self.sections) - SECTION_NAMES
        if missing:
            raise ValueError(f"sections: no priority for {sorted(missing)}")
        if unknown:
            raise ValueError(f"sections: unknown sections {sorted(unknown)}")
        return self

    def allowed_sections(self, role: str, phase: str) -> tuple[str, ...]:
        """The sections `role` may see in `phase`; ScopeDenied if the policy does not say."""
        rules = self.roles.get(role)
        if rules is None:
            raise ScopeDenied(f"role {role!r} is not in the scope policy: no context is given to it")
        try:
            state = StoryState(phase)
        except ValueError:
            raise ScopeDenied(f"phase {phase!r} is not a story state") from None
        sections = rules.phases.get(state)
        if sections is None:
            raise ScopeDenied(f"role {role} may not see a story in phase {state.value} (scope policy)")
        return sections

    def fingerprint(self) -> str:
        """Changes whenever the policy's content changes (part of the cache key)."""
        import hashlib

        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(part) for part in item["loc"]) or "<root>"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def parse_policy(document: Any, source: str = "scope policy") -> ScopePolicy:
    try:
        return ScopePolicy.model_validate(document)
    except ValidationError as error:
        raise PolicyError(f"{source} is invalid: {_describe(error)}") from None


def load_policy(path: Path | None = None) -> ScopePolicy:
    """The policy at `path`, or the one shipped with the package."""
    path = path or Path(__file__).resolve().parent.parent / "scope_policy.yaml"
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PolicyError(f"cannot read the scope policy {path}: {error}") from None
    return parse_policy(document, str(path))
