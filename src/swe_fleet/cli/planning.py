"""`fleet project|epic|story|plan|decision`: the Product Owner's commands, through the planning HTTP API.

Every command talks to `FLEET_PLANNING_URL` (default: the fleet's API URL) with the bearer token of
FLEET_TOKEN, FLEET_TOKEN_FILE or the embedded fleet's `<data dir>/auth/po.token`; the API records
that token's identity as the actor of every change (there is no `--by`). Any failure is one
line on stderr and a non-zero exit: 1 refused by the API (unknown id, illegal transition,
conflict), 2 invalid input, 3 the API cannot be reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from swe_fleet.cli.common import CliError, fail, out, print_json, print_table, settings
from swe_fleet.events.payloads import Role, StoryState
from swe_fleet.security.client_token import WHERE, bearer_headers, client_token
from swe_fleet.security.secret_files import SecretFileError

project_app = typer.Typer(help="Projects: the top of the planning tree.", no_args_is_help=True)
epic_app = typer.Typer(help="Epics: groups of stories in a project.", no_args_is_help=True)
story_app = typer.Typer(help="Stories and their lifecycle.", no_args_is_help=True)
plan_app = typer.Typer(help="Plans for stories: propose, approve, reject.", no_args_is_help=True)
decision_app = typer.Typer(help="Decisions awaiting the PO's verdict.", no_args_is_help=True)
approvals_app = typer.Typer(
    help="Commands tasks wait for: approve or refuse what an agent asked to run.", no_args_is_help=True
)

EXIT_REFUSED, EXIT_INVALID, EXIT_UNREACHABLE = 1, 2, 3


JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
IdOption = Annotated[str | None, typer.Option("--id", help="Choose the id (default: generated).")]


class PlanningClient:
    """A thin synchronous client: JSON in and out, every failure turned into a CliError."""

    def __init__(self, base_url: str, timeout: float = 15.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = bearer_headers(token)

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
            response = httpx.request(
                method, url, json=body, params=query, headers=self.headers, timeout=self.timeout
            )
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
            hint = f"; {WHERE}" if response.status_code == 401 else ""
            raise CliError(f"{describe_error(response)} (HTTP {response.status_code}){hint}", code)
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
    s = settings(ctx)
    try:
        token = client_token(s)
    except SecretFileError as error:
        fail(str(error), EXIT_INVALID)
    return PlanningClient(s.resolved_planning_url, token=token)


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
    epic_id: IdOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an epic in a project."""
    body = {
        "project_id": project,
        "title": title,
        "description": description,
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
    "token_budget",
    "correlation_id",
    "created_by",
    "created_at",
    "updated_at",
)


@story_app.command("create")
def story_create(
    ctx: typer.Context,
    title: str,
    owner: Annotated[str | None, typer.Option(help="Who owns the story (default: you, the caller).")] = None,
    epic: Annotated[str | None, typer.Option("--epic", help="The epic's id.")] = None,
    brief: Annotated[str, typer.Option(help="What and why, in a few sentences.")] = "",
    criteria: Annotated[
        list[str] | None, typer.Option("--ac", help="An acceptance criterion (repeat for more).")
    ] = None,
    story_id: IdOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a story (it starts in DRAFT)."""
    body = {
        "title": title,
        "owner": owner,
        "epic_id": epic,
        "brief": brief,
        "acceptance_criteria": criteria or [],
        "id": story_id,
    }
    _show(_call(ctx, "POST", "/v1/stories", body=body), STORY_FIELDS, as_json)


@story_app.command("show")
def story_show(ctx: typer.Context, story_id: str, as_json: JsonFlag = False) -> None:
    """A story with its history and plans."""
    from swe_fleet.cli.graph import USAGE_COLUMNS, story_usage, usage_rows, usage_totals

    story = _call(ctx, "GET", f"/v1/stories/{story_id}")
    usage, why_not = story_usage(ctx, story_id)
    if as_json:
        print_json({**story, "usage": usage, "usage_error": why_not or None})
        return
    _show(story, STORY_FIELDS, False)
    # Why it does not move on by itself, if it does not (its delivery: fleet story delivery).
    held = _call(ctx, "GET", f"/v1/stories/{story_id}/delivery").get("blocked_reason")
    if held:
        out.print(f"held: {held}", markup=False, highlight=False)
    out.print()
    if usage is None:
        out.print(f"tokens: unknown ({why_not})", markup=False, highlight=False)
    else:
        rows = usage_rows(usage, ("by_deliberation", "by_role"))
        rows.append(("story", story_id, *usage_totals(usage["total"])))
        print_table(f"tokens (budget: {story.get('token_budget') or 'fleet default'})", USAGE_COLUMNS, rows)
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


@story_app.command("budget")
def story_budget(
    ctx: typer.Context,
    story_id: str,
    tokens: Annotated[int | None, typer.Argument(help="Tokens the story's agents may spend.")] = None,
    default: Annotated[bool, typer.Option("--default", help="Back to FLEET_STORY_TOKEN_BUDGET.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Set a story's token budget; councils waiting on it start if they now fit (ADR 0209)."""
    if (tokens is None) == (not default):
        fail("give a number of tokens, or --default (not both)", EXIT_INVALID)
    if tokens is not None and tokens < 1:
        fail(f"a token budget is a positive number of tokens, not {tokens}", EXIT_INVALID)
    body = {"token_budget": tokens}
    _show(_call(ctx, "PUT", f"/v1/stories/{story_id}/token-budget", body=body), STORY_FIELDS, as_json)


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
    body = {"to_state": to_state.value, "reason": reason, "expected_version": expected_version}
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
    plan_id: IdOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Propose a plan for a story (the story must be READY_FOR_PLANNING or PLANNED)."""
    body = {
        "description": description,
        "acceptance_criteria": criteria,
        "technical_notes": notes,
        "roles": [role.value for role in roles or []],
        "id": plan_id,
    }
    _show(_call(ctx, "POST", f"/v1/stories/{story_id}/plans", body=body), PLAN_FIELDS, as_json)


@plan_app.command("approve")
def plan_approve(
    ctx: typer.Context,
    plan_id: str,
    notes: Annotated[str, typer.Option(help="Notes for the team.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Approve a plan (a READY_FOR_PLANNING story becomes PLANNED)."""
    plan = _call(ctx, "POST", f"/v1/plans/{plan_id}/approve", body={"notes": notes})
    _show(plan, PLAN_FIELDS, as_json)


@plan_app.command("reject")
def plan_reject(
    ctx: typer.Context,
    plan_id: str,
    reason: Annotated[str, typer.Option(help="Why the plan is rejected.")],
    as_json: JsonFlag = False,
) -> None:
    """Reject a plan, with a reason."""
    plan = _call(ctx, "POST", f"/v1/plans/{plan_id}/reject", body={"reason": reason})
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
        "id": decision_id,
    }
    _show(_call(ctx, "POST", "/v1/decisions", body=body), DECISION_FIELDS, as_json)


def _verdict(ctx: typer.Context, decision_id: str, verdict: str, rationale: str, as_json: bool) -> None:
    body = {"rationale": rationale}
    _show(_call(ctx, "POST", f"/v1/decisions/{decision_id}/{verdict}", body=body), DECISION_FIELDS, as_json)


Rationale = Annotated[str, typer.Option(help="Why (required).")]


@decision_app.command("approve")
def decision_approve(
    ctx: typer.Context,
    decision_id: str,
    rationale: Rationale,
    as_json: JsonFlag = False,
) -> None:
    """Approve a decision, with a rationale."""
    _verdict(ctx, decision_id, "approve", rationale, as_json)


@decision_app.command("reject")
def decision_reject(
    ctx: typer.Context,
    decision_id: str,
    rationale: Rationale,
    as_json: JsonFlag = False,
) -> None:
    """Reject a decision, with a rationale."""
    _verdict(ctx, decision_id, "reject", rationale, as_json)


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


# ------------------------------------------------------------------ approvals (ADR 0612)

Reason = Annotated[str, typer.Option(help="Why (required): the agent is told a refusal's reason.")]


@approvals_app.command("list")
def approvals_list(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", help="Decided ones too, not only pending.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Approvals asked for by tasks (pending ones unless --all)."""
    rows = _call(ctx, "GET", "/v1/approvals", params={"status": None if every else "PROPOSED"})
    _table(rows, ("id", "task_id", "status", "title", "decided_by"), as_json)


def _approval_verdict(ctx: typer.Context, approval_id: str, verdict: str, reason: str, as_json: bool) -> None:
    path = f"/v1/approvals/{quote(approval_id, safe='')}/{verdict}"
    _show(_call(ctx, "POST", path, body={"reason": reason}), DECISION_FIELDS, as_json)


@approvals_app.command("approve")
def approvals_approve(
    ctx: typer.Context, approval_id: str, reason: Reason, as_json: JsonFlag = False
) -> None:
    """Approve: the task's command runs and its agent goes on."""
    _approval_verdict(ctx, approval_id, "approve", reason, as_json)


@approvals_app.command("refuse")
def approvals_refuse(ctx: typer.Context, approval_id: str, reason: Reason, as_json: JsonFlag = False) -> None:
    """Refuse: the command does not run; the agent is told why and goes on without it."""
    _approval_verdict(ctx, approval_id, "refuse", reason, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(project_app, name="project")
    app.add_typer(epic_app, name="epic")
    app.add_typer(story_app, name="story")
    app.add_typer(plan_app, name="plan")
    app.add_typer(decision_app, name="decision")
    app.add_typer(approvals_app, name="approvals")
