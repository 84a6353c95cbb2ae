"""`fleet project|epic|story|plan|decision`: the Product Owner's commands, through the planning HTTP API.

Every command talks to `FLEET_PLANNING_URL` (default: the fleet's API URL). Any failure is one
line on stderr and a non-zero exit: 1 refused by the API (unknown id, illegal transition,
conflict), 2 invalid input, 3 the API cannot be reached.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from swe_fleet.cli.common import CliError, fail, out, print_json, print_table, settings
from swe_fleet.events.payloads import Role, StoryState

project_app = typer.Typer(help="Projects: the top of the planning tree.", no_args_is_help=True)
epic_app = typer.Typer(help="Epics: groups of stories in a project.", no_args_is_help=True)
story_app = typer.Typer(help="Stories and their lifecycle.", no_args_is_help=True)
plan_app = typer.Typer(help="Plans for stories: propose, approve, reject.", no_args_is_help=True)
decision_app = typer.Typer(help="Decisions awaiting the PO's verdict.", no_args_is_help=True)

EXIT_REFUSED, EXIT_INVALID, EXIT_UNREACHABLE = 1, 2, 3


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "po"


JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
By = Annotated[str, typer.Option("--by", envvar="FLEET_ACTOR", help="Who does this (default: your user).")]
IdOption = Annotated[str | None, typer.Option("--id", help="Choose the id (default: generated).")]


class PlanningClient:
    """A thin synchronous client: JSON in and out, every failure turned into a CliError."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        url = f"{self.base_url}{path}"
        query = {key: value for key, value in (params or {}).items() if value is not None}
        try:
            response = httpx.request(method, url, json=body, params=query, timeout=self.timeout)
        except httpx.ConnectError as error:
            raise CliError(
                f"cannot reach the planning API at {self.base_url}: {_reason(error)} "
                "(is `fleet up` running? set FLEET_PLANNING_URL or --api-url)",
                EXIT_UNREACHABLE,
            ) from None
        except httpx.TimeoutException:
            raise CliError(
                f"the planning API at {self.base_url} did not answer within {self.timeout:.0f}s",
                EXIT_UNREACHABLE,
            ) from None
        except httpx.HTTPError as error:
            raise CliError(f"request to {url} failed: {_reason(error)}", EXIT_UNREACHABLE) from None
        if response.status_code >= 400:
            code = EXIT_INVALID if response.status_code == 422 else EXIT_REFUSED
            raise CliError(f"{describe_error(response)} (HTTP {response.status_code})", code)
        return response.json()


def _reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return "connection refused" if "refused" in text.lower() else text.splitlines()[0]


def describe_error(response: httpx.Response) -> str:
    """One line from an API error body: `{"detail": "..."}` or FastAPI's list of field errors."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text.strip().splitlines()[0] if response.text.strip() else response.reason_phrase
    if isinstance(detail, list):
        parts = []
        for item in detail:
            location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")]
            parts.append(f"{'.'.join(location) or 'request'}: {item.get('msg', 'invalid')}")
        return "invalid input: " + "; ".join(parts)
    return str(detail)


def _client(ctx: typer.Context) -> PlanningClient:
    return PlanningClient(settings(ctx).resolved_planning_url)


def _call(ctx: typer.Context, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return _client(ctx).call(method, path, **kwargs)
    except CliError as error:
        fail(str(error), error.code)


def _show(document: dict[str, Any], fields: Sequence[str], as_json: bool) -> None:
    if as_json:
        print_json(document)
        return
    width = max(len(name) for name in fields)
    for name in fields:
        value = document.get(name)
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value) if value else "-"
        out.print(
            f"{name.ljust(width)}  {'-' if value in (None, '') else value}", markup=False, highlight=False
        )


def _table(rows: list[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    if as_json:
        print_json(rows)
    else:
        print_table(None, list(columns), [[row.get(column) for column in columns] for row in rows])


# ------------------------------------------------------------------ projects

PROJECT_FIELDS = (
    "id",
    "name",
    "description",
    "repo",
    "base_branch",
    "test_command",
    "created_by",
    "created_at",
)


@project_app.command("create")
def project_create(
    ctx: typer.Context,
    name: str,
    description: Annotated[str, typer.Option(help="What the project is for.")] = "",
    by: By = _default_actor(),
    project_id: IdOption = None,
    repo: Annotated[str | None, typer.Option(help="The project's git repository: a path or URL.")] = None,
    base_branch: Annotated[str, typer.Option(help="The branch the fleet's branches start from.")] = "main",
    test_command: Annotated[
        str | None, typer.Option(help="How the project's tests run, from the repository's root.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a project (with the git repository the fleet works on, if any)."""
    if repo is not None and "://" not in repo and ":" not in repo.split("/")[0] and Path(repo).exists():
        repo = str(Path(repo).resolve())  # a local path means the same to the fleet wherever it runs
    body = {
        "name": name,
        "description": description,
        "created_by": by,
        "id": project_id,
        "repo": repo,
        "base_branch": base_branch,
        "test_command": test_command,
    }
    _show(_call(ctx, "POST", "/v1/projects", body=body), PROJECT_FIELDS, as_json)


@project_app.command("ls")
def project_ls(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List projects."""
    _table(_call(ctx, "GET", "/v1/projects"), ("id", "name", "created_by", "created_at"), as_json)


# ------------------------------------------------------------------ epics

EPIC_FIELDS = ("id", "project_id", "title", "description", "created_by", "created_at")


@epic_app.command("create")
def epic_create(
    ctx: typer.Context,
    title: str,
    project: Annotated[str, typer.Option("--project", help="The project's id.")],
    description: Annotated[str, typer.Option(help="What the epic covers.")] = "",
    by: By = _default_actor(),
    epic_id: IdOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an epic in a project."""
    body = {
        "project_id": project,
        "title": title,
        "description": description,
        "created_by": by,
        "id": epic_id,
    }
    _show(_call(ctx, "POST", "/v1/epics", body=body), EPIC_FIELDS, as_json)


@epic_app.command("ls")
def epic_ls(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", help="Only this project's epics.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List epics."""
    rows = _call(ctx, "GET", "/v1/epics", params={"project_id": project})
    _table(rows, ("id", "project_id", "title", "created_by"), as_json)


# ------------------------------------------------------------------ stories

STORY_FIELDS = (
    "id",
    "title",
    "state",
    "allowed_transitions",
    "owner",
    "epic_id",
    "brief",
    "acceptance_criteria",
    "version",
    "correlation_id",
    "created_by",
    "created_at",
    "updated_at",
)


@story_app.command("create")
def story_create(
    ctx: typer.Context,
    title: str,
    owner: Annotated[str | None, typer.Option(help="Who owns the story (default: --by).")] = None,
    epic: Annotated[str | None, typer.Option("--epic", help="The epic's id.")] = None,
    brief: Annotated[str, typer.Option(help="What and why, in a few sentences.")] = "",
    criteria: Annotated[
        list[str] | None, typer.Option("--ac", help="An acceptance criterion (repeat for more).")
    ] = None,
    by: By = _default_actor(),
    story_id: IdOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a story (it starts in DRAFT)."""
    body = {
        "title": title,
        "owner": owner or by,
        "created_by": by,
        "epic_id": epic,
        "brief": brief,
        "acceptance_criteria": criteria or [],
        "id": story_id,
    }
    _show(_call(ctx, "POST", "/v1/stories", body=body), STORY_FIELDS, as_json)


@story_app.command("show")
def story_show(ctx: typer.Context, story_id: str, as_json: JsonFlag = False) -> None:
    """A story with its history and plans."""
    story = _call(ctx, "GET", f"/v1/stories/{story_id}")
    if as_json:
        print_json(story)
        return
    _show(story, STORY_FIELDS, False)
    if story["history"]:
        out.print()
        print_table(
            "history",
            ["at", "from", "to", "by", "reason"],
            [(h["at"], h["from_state"], h["to_state"], h["by"], h["reason"]) for h in story["history"]],
        )
    if story["plans"]:
        out.print()
        print_table(
            "plans",
            ["id", "status", "roles", "created_by", "decided_by"],
            [
                (p["id"], p["status"], ", ".join(p["roles"]), p["created_by"], p["decided_by"])
                for p in story["plans"]
            ],
        )


@story_app.command("ls")
def story_ls(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", help="Only this project's stories.")] = None,
    epic: Annotated[str | None, typer.Option("--epic", help="Only this epic's stories.")] = None,
    state: Annotated[StoryState | None, typer.Option("--state", help="Only stories in this state.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's stories.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List stories."""
    params = {
        "project_id": project,
        "epic_id": epic,
        "state": state.value if state else None,
        "owner": owner,
        "limit": limit,
    }
    rows = _call(ctx, "GET", "/v1/stories", params=params)
    _table(rows, ("id", "state", "title", "owner", "epic_id", "version"), as_json)


@story_app.command("transition")
def story_transition(
    ctx: typer.Context,
    story_id: str,
    to_state: Annotated[StoryState, typer.Argument(help="The state to move the story to.")],
    by: By = _default_actor(),
    reason: Annotated[str | None, typer.Option(help="Why (kept in the story's history).")] = None,
    expected_version: Annotated[
        int | None,
        typer.Option(
            "--expected-version", min=1, help="Refuse (409) if the story changed since this version."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Move a story to another lifecycle state (409 names the allowed ones if it may not)."""
    body = {"to_state": to_state.value, "by": by, "reason": reason, "expected_version": expected_version}
    _show(_call(ctx, "POST", f"/v1/stories/{story_id}/transitions", body=body), STORY_FIELDS, as_json)


# ------------------------------------------------------------------ plans

PLAN_FIELDS = (
    "id",
    "story_id",
    "status",
    "description",
    "acceptance_criteria",
    "technical_notes",
    "roles",
    "created_by",
    "decided_by",
    "decided_at",
    "verdict_note",
)


@plan_app.command("create")
def plan_create(
    ctx: typer.Context,
    story_id: str,
    description: Annotated[str, typer.Option(help="What will be done, and how.")],
    criteria: Annotated[list[str], typer.Option("--ac", help="An acceptance criterion (at least one).")],
    notes: Annotated[str, typer.Option("--notes", help="Technical notes.")] = "",
    roles: Annotated[
        list[Role] | None, typer.Option("--role", help="A role the plan needs (repeat).")
    ] = None,
    by: By = _default_actor(),
    plan_id: IdOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Propose a plan for a story (the story must be READY_FOR_PLANNING or PLANNED)."""
    body = {
        "description": description,
        "acceptance_criteria": criteria,
        "technical_notes": notes,
        "roles": [role.value for role in roles or []],
        "created_by": by,
        "id": plan_id,
    }
    _show(_call(ctx, "POST", f"/v1/stories/{story_id}/plans", body=body), PLAN_FIELDS, as_json)


@plan_app.command("approve")
def plan_approve(
    ctx: typer.Context,
    plan_id: str,
    by: By = _default_actor(),
    notes: Annotated[str, typer.Option(help="Notes for the team.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Approve a plan (a READY_FOR_PLANNING story becomes PLANNED)."""
    plan = _call(ctx, "POST", f"/v1/plans/{plan_id}/approve", body={"by": by, "notes": notes})
    _show(plan, PLAN_FIELDS, as_json)


@plan_app.command("reject")
def plan_reject(
    ctx: typer.Context,
    plan_id: str,
    reason: Annotated[str, typer.Option(help="Why the plan is rejected.")],
    by: By = _default_actor(),
    as_json: JsonFlag = False,
) -> None:
    """Reject a plan, with a reason."""
    plan = _call(ctx, "POST", f"/v1/plans/{plan_id}/reject", body={"by": by, "reason": reason})
    _show(plan, PLAN_FIELDS, as_json)


@plan_app.command("show")
def plan_show(ctx: typer.Context, plan_id: str, as_json: JsonFlag = False) -> None:
    """One plan."""
    _show(_call(ctx, "GET", f"/v1/plans/{plan_id}"), PLAN_FIELDS, as_json)


@plan_app.command("ls")
def plan_ls(ctx: typer.Context, story_id: str, as_json: JsonFlag = False) -> None:
    """A story's plans."""
    rows = _call(ctx, "GET", f"/v1/stories/{story_id}/plans")
    _table(rows, ("id", "status", "roles", "created_by", "decided_by"), as_json)


# ------------------------------------------------------------------ decisions

DECISION_FIELDS = (
    "id",
    "story_id",
    "task_id",
    "status",
    "title",
    "description",
    "affects",
    "proposed_by",
    "decided_by",
    "rationale",
)


@decision_app.command("create")
def decision_create(
    ctx: typer.Context,
    story_id: str,
    title: Annotated[str, typer.Option(help="The decision, in one line.")],
    description: Annotated[str, typer.Option(help="Context and options.")] = "",
    task: Annotated[str | None, typer.Option("--task", help="The task it belongs to.")] = None,
    affects: Annotated[list[str] | None, typer.Option("--affects", help="An affected id (repeat).")] = None,
    by: By = _default_actor(),
    decision_id: IdOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Propose a decision for the PO's verdict."""
    body = {
        "story_id": story_id,
        "title": title,
        "description": description,
        "task_id": task,
        "affects": affects or [],
        "proposed_by": by,
        "id": decision_id,
    }
    _show(_call(ctx, "POST", "/v1/decisions", body=body), DECISION_FIELDS, as_json)


def _verdict(
    ctx: typer.Context, decision_id: str, verdict: str, by: str, rationale: str, as_json: bool
) -> None:
    body = {"by": by, "rationale": rationale}
    _show(_call(ctx, "POST", f"/v1/decisions/{decision_id}/{verdict}", body=body), DECISION_FIELDS, as_json)


Rationale = Annotated[str, typer.Option(help="Why (required).")]


@decision_app.command("approve")
def decision_approve(
    ctx: typer.Context,
    decision_id: str,
    rationale: Rationale,
    by: By = _default_actor(),
    as_json: JsonFlag = False,
) -> None:
    """Approve a decision, with a rationale."""
    _verdict(ctx, decision_id, "approve", by, rationale, as_json)


@decision_app.command("reject")
def decision_reject(
    ctx: typer.Context,
    decision_id: str,
    rationale: Rationale,
    by: By = _default_actor(),
    as_json: JsonFlag = False,
) -> None:
    """Reject a decision, with a rationale."""
    _verdict(ctx, decision_id, "reject", by, rationale, as_json)


@decision_app.command("show")
def decision_show(ctx: typer.Context, decision_id: str, as_json: JsonFlag = False) -> None:
    """One decision."""
    _show(_call(ctx, "GET", f"/v1/decisions/{decision_id}"), DECISION_FIELDS, as_json)


@decision_app.command("ls")
def decision_ls(
    ctx: typer.Context,
    story: Annotated[str | None, typer.Option("--story", help="Only this story's decisions.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List decisions."""
    rows = _call(ctx, "GET", "/v1/decisions", params={"story_id": story})
    _table(rows, ("id", "story_id", "status", "title", "decided_by"), as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(project_app, name="project")
    app.add_typer(epic_app, name="epic")
    app.add_typer(story_app, name="story")
    app.add_typer(plan_app, name="plan")
    app.add_typer(decision_app, name="decision")
