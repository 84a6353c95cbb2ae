"""`fleet tasks show TASK`: what happened to a task — its timeline of tool calls, its tests, its diff.

Read from the Context service's graph (`GET /v1/graph/tasks/{task_id}`), like every other read of the
decision graph from the shell; where the task stands in its story's delivery (done, failed beyond
its review rounds...) from Planning's `GET /v1/stories/{id}/delivery`, when Planning answers.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from swe_fleet.cli.common import out, print_json, print_table, settings
from swe_fleet.cli.graph import _call
from swe_fleet.security.client_token import bearer_headers, client_token
from swe_fleet.security.secret_files import SecretFileError

tasks_app = typer.Typer(
    help="Tasks as the agents carried them out in their workspaces.", no_args_is_help=True
)


def say(text: str) -> None:
    out.print(text, markup=False, highlight=False)


def _tests(ok: Any, failing: list[str] | None) -> str:
    if ok is None:
        return "not run"
    if ok:
        return "pass"
    return "FAIL" + (f": {', '.join(failing or [])}" if failing else "")


def _first_line(text: Any, width: int = 80) -> str:
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _delivery(ctx: typer.Context, task: dict[str, Any]) -> dict[str, Any] | None:
    """The task's line in its story's delivery (its attempts count as the task), or None when
    Planning does not answer: the graph's account stands on its own."""
    story_id, origin = task.get("story_id"), task.get("rework_of") or task["id"]
    if not story_id:
        return None
    s = settings(ctx)
    try:
        headers = bearer_headers(client_token(s))
        response = httpx.get(
            f"{s.resolved_planning_url}/v1/stories/{quote(story_id, safe='')}/delivery",
            headers=headers,
            timeout=10.0,
        )
    except (httpx.HTTPError, SecretFileError):
        return None
    if response.status_code != 200:
        return None
    return next((t for t in response.json().get("tasks", []) if t.get("task_id") == origin), None)


def show_task(task: dict[str, Any], with_diff: bool) -> None:
    role, story = task.get("role") or "?", task.get("story_id")
    say(f"task {task['id']}: {task.get('title') or ''} ({role}, story {story})")
    delivery = task.get("delivery")
    if delivery:
        reason = f": {delivery['reason']}" if delivery.get("reason") else ""
        say(f"delivery: {delivery['status']} (attempt {delivery.get('current_id')}){reason}")
    result = task.get("result")
    if result is None:
        say("result: none yet (not carried out, or still running)")
    else:
        say(f"result: {result['outcome']} on {result.get('branch')}")
        if result.get("reason"):
            say(f"reason: {result['reason']}")
        if result.get("summary"):
            say(f"summary: {_first_line(result['summary'], 200)}")
        say(f"tests before: {_tests(result.get('tests_before_ok'), result.get('failing_before'))}")
        say(f"tests after:  {_tests(result.get('tests_after_ok'), result.get('failing_after'))}")
        files = ", ".join(result.get("files") or []) or "none"
        say(f"diff: {files} (+{result.get('insertions') or 0} -{result.get('deletions') or 0})")
        prompt, completion = result.get("prompt_tokens") or 0, result.get("completion_tokens") or 0
        say(f"tokens: {prompt} prompt, {completion} completion")
    for commit in task.get("commits") or []:
        say(f"commit {commit['sha'][:12]} {_first_line(commit.get('message'))}")
    _show_reviews(task)
    rows = [
        [
            call.get("attempt"),
            call.get("step"),
            call.get("tool"),
            call.get("outcome"),
            f"{float(call.get('duration_ms') or 0):.0f}",
            _first_line(call.get("output")),
        ]
        for call in task.get("timeline") or []
    ]
    if rows:
        print_table("timeline", ["attempt", "step", "tool", "outcome", "ms", "output"], rows)
    if with_diff and result and result.get("patch"):
        say(result["patch"])


def _show_reviews(task: dict[str, Any]) -> None:
    """Its QA reviews, and the attempts around it (ADR 0703): what it reworks, what reworks it."""
    if task.get("rework_of"):
        reason = next(
            (d.get("rework_reason") for d in task.get("dispatches") or [] if d.get("rework_of")), ""
        )
        say(f"rework of {task['rework_of']}: {_first_line(reason, 200)}")
    for review in task.get("reviews") or []:
        head = str(review.get("head") or "")[:12] or "no commit"
        say(f"review {review.get('verdict')} of {head} by {review.get('reviewer')}: {review.get('summary')}")
        for finding in review.get("findings") or []:
            say(f"  finding: {_first_line(finding, 200)}")
    if task.get("reworked_by"):
        say(f"reworked by: {', '.join(task['reworked_by'])}")


@tasks_app.command("show")
def tasks_show(
    ctx: typer.Context,
    task_id: str,
    diff: Annotated[bool, typer.Option("--diff", help="Also print the change as a unified diff.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A task's timeline of tool calls, its tests before and after, its diff and commits."""
    task = _call(ctx, "GET", f"/v1/graph/tasks/{quote(task_id, safe='')}")
    task["delivery"] = _delivery(ctx, task)
    if as_json:
        print_json(task)
    else:
        show_task(task, diff)


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")
