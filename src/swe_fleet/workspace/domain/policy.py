"""What each role may do in a workspace: its tools, where it may write, which commands it may run, limits.

Declared in YAML (`workspace/policies.yaml`), validated at start-up with an error naming the bad entry,
and checked fail-closed: a role, a tool, a path or a command the policy does not name is refused.
Commands are argv lists, never shell text: `split_command` refuses pipes, `;`, `&&` and redirections
instead of passing them on as arguments the user did not mean.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from swe_fleet.errors import ConfigurationError
from swe_fleet.workspace.domain.tools import WRITING_TOOLS, ToolName


class WorkspacePolicyError(ConfigurationError):
    """The policies file is invalid; the message names the entry."""


class RoleNotAllowed(PermissionError):
    """The policies name no such role: it gets no workspace."""


class CommandRefused(ValueError):
    """A command line that cannot be run as given (empty, unbalanced quotes, shell syntax)."""


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # The agent loop: tool calls and seconds for the whole task.
    max_steps: int = Field(ge=1, le=1000)
    max_seconds: float = Field(gt=0, le=24 * 3600)
    # Bytes of a tool's output kept for the model (head and tail of longer output).
    max_output_bytes: int = Field(ge=256, le=16 * 1024 * 1024)
    # Per command in the sandbox: CPU seconds, address space, processes, size of a written file, wall clock.
    cpu_seconds: int = Field(ge=1, le=24 * 3600)
    memory_mb: int = Field(ge=16, le=1024 * 1024)
    max_processes: int = Field(ge=1, le=100_000)
    max_file_mb: int = Field(ge=1, le=1024 * 1024)
    wall_timeout_s: float = Field(gt=0, le=24 * 3600)

    @property
    def capture_bytes(self) -> int:
        """Output kept from a command before redaction (head and tail), well over what is shown, so the
        cut made while reading lies in the middle the final cut removes: no secret is shown half-cut."""
        return 4 * self.max_output_bytes + 65536


class CommandRule(BaseModel):
    """Matches a command whose argv starts with `prefix`; with `args_pattern`, every further argument
    must match that regular expression in full."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    prefix: tuple[str, ...] = Field(min_length=1)
    args_pattern: str | None = None

    @field_validator("args_pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"args_pattern {pattern!r} is not a regular expression: {error}") from None
        return pattern

    def matches(self, argv: tuple[str, ...]) -> bool:
        if argv[: len(self.prefix)] != self.prefix:
            return False
        if self.args_pattern is None:
            return True
        rest = argv[len(self.prefix) :]
        return all(re.fullmatch(self.args_pattern, argument) for argument in rest)

    def describe(self) -> str:
        return " ".join(self.prefix) + (" ..." if self.args_pattern is None else f" <{self.args_pattern}>")


class CommandVerdict(StrEnum):
    ALLOWED = "allowed"
    APPROVAL_REQUIRED = "approval_required"
    DENIED = "denied"


@dataclass(frozen=True)
class CommandDecision:
    verdict: CommandVerdict
    reason: str


class RolePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tools: frozenset[ToolName]
    # Paths (relative, POSIX) the role may create or change: fnmatch patterns, where `*` also matches `/`.
    write_paths: tuple[str, ...] = ()
    # Paths it may not write even where `write_paths` would allow (CI files run with the repository's
    # secrets when the branch is pushed); matched case-insensitively.
    protected_paths: tuple[str, ...] = ()
    commands: tuple[CommandRule, ...] = ()
    # Commands that run only after the Product Owner approves them (checked before `commands`).
    requires_approval: tuple[CommandRule, ...] = ()
    limits: Limits

    @model_validator(mode="after")
    def _coherent(self) -> RolePolicy:
        if ToolName.FINISH not in self.tools:
            raise ValueError("tools: must include finish (an agent must be able to end its task)")
        writes = self.tools & WRITING_TOOLS
        if writes and not self.write_paths:
            raise ValueError(f"write_paths: empty, yet the role has {sorted(writes)}")
        if ToolName.RUN_COMMAND in self.tools and not (self.commands or self.requires_approval):
            raise ValueError("commands: empty, yet the role has run_command")
        return self

    def may_use(self, tool: ToolName) -> bool:
        return tool in self.tools

    def may_write(self, relative_path: str) -> bool:
        return self.protection(relative_path) is None and any(
            fnmatch.fnmatchcase(relative_path, pattern) for pattern in self.write_paths
        )

    def protection(self, relative_path: str) -> str | None:
        """The protected pattern `relative_path` falls under, if any."""
        lowered = relative_path.lower()
        return next((p for p in self.protected_paths if fnmatch.fnmatchcase(lowered, p.lower())), None)

    def check_command(self, argv: tuple[str, ...]) -> CommandDecision:
        """Whether this role may run `argv` (as split by `split_command`), and why not."""
        if not argv:
            return CommandDecision(CommandVerdict.DENIED, "empty command")
        shown = shlex.join(argv)
        for rule in self.requires_approval:
            if rule.matches(argv):
                return CommandDecision(
                    CommandVerdict.APPROVAL_REQUIRED,
                    f"`{shown}` needs the Product Owner's approval (rule: {rule.describe()})",
                )
        for rule in self.commands:
            if rule.matches(argv):
                return CommandDecision(CommandVerdict.ALLOWED, f"allowed by rule: {rule.describe()}")
        allowed = "; ".join(rule.describe() for rule in self.commands) or "none"
        return CommandDecision(
            CommandVerdict.DENIED, f"`{shown}` is not allowed; allowed commands: {allowed}"
        )


class WorkspacePolicies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(ge=1)
    roles: dict[str, RolePolicy]

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, document: Any) -> Any:
        # `defaults.limits` fills each role's limits; a role overrides only the fields it names.
        # `x-...` keys hold YAML anchors shared by several entries; they are not policy.
        if not isinstance(document, dict):
            return document
        document = {key: value for key, value in document.items() if not str(key).startswith("x-")}
        defaults = document.pop("defaults", None) or {}
        if not isinstance(defaults, dict) or set(defaults) - {"limits"}:
            raise ValueError("defaults: only `limits` may be given there")
        default_limits = defaults.get("limits") or {}
        roles = document.get("roles")
        if isinstance(roles, dict) and isinstance(default_limits, dict):
            document["roles"] = {
                name: (
                    {**rules, "limits": {**default_limits, **(rules.get("limits") or {})}}
                    if isinstance(rules, dict)
                    else rules
                )
                for name, rules in roles.items()
            }
        return document

    def for_role(self, role: str) -> RolePolicy:
        """The policy of `role`; RoleNotAllowed when the policies do not name it."""
        policy = self.roles.get(role)
        if policy is None:
            raise RoleNotAllowed(f"role {role!r} has no workspace policy: it may not work a checkout")
        return policy


_SHELL_PUNCTUATION = ";&|<>"


def split_command(command: str) -> tuple[str, ...]:
    """The argv of one command line; CommandRefused for empty text, bad quoting or shell syntax."""
    try:
        argv = tuple(shlex.split(command))
        # A second pass that cuts unquoted ; & | < > into tokens of their own finds `pytest;` too.
        lexer = shlex.shlex(command, posix=True, punctuation_chars=_SHELL_PUNCTUATION)
        lexer.whitespace_split = True
        operators = [token for token in lexer if token and set(token) <= set(_SHELL_PUNCTUATION)]
    except ValueError as error:
        raise CommandRefused(f"cannot split the command: {error}") from None
    if not argv:
        raise CommandRefused("empty command")
    substitutions = [token for token in argv if "`" in token or "$(" in token]
    if operators or substitutions:
        shown = (operators or substitutions)[0]
        raise CommandRefused(
            f"shell syntax {shown!r} is not interpreted: commands run without a shell, one at a time"
        )
    return argv


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(part) for part in item["loc"]) or "<root>"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def parse_policies(document: Any, source: str = "workspace policies") -> WorkspacePolicies:
    try:
        return WorkspacePolicies.model_validate(document)
    except ValidationError as error:
        raise WorkspacePolicyError(f"{source} is invalid: {_describe(error)}") from None


def default_policies_path() -> Path:
    return Path(__file__).resolve().parent.parent / "policies.yaml"


def load_policies(path: Path | None = None) -> WorkspacePolicies:
    """The policies at `path`, or the ones shipped with the package."""
    path = path or default_policies_path()
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise WorkspacePolicyError(f"cannot read the workspace policies {path}: {error}") from None
    return parse_policies(document, str(path))
