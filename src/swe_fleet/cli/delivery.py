"""`fleet story delivery|accept|send-back`: the PO's side of delivered work, through the planning API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from swe_fleet.cli.common import out, print_json, print_table
from swe_fleet.cli.planning import STORY_FIELDS, JsonFlag, _call, _show, story_app


def story_delivery(ctx: typer.Context, story_id: str, as_json: JsonFlag = False) -> None:
    """A story's delivery: its tasks' results, the branch's suite, and why it waits, if it does."""
    delivery: dict[str, Any] = _call(ctx, "GET", f"/v1/stories/{story_id}/delivery")
    if as_json:
        print_json(delivery)
        return
    suite = delivery["suite"]
    _show(
        {
            "story_id": delivery["story_id"],
            "round": delivery["round"],
            "branch": delivery["branch"],
            "all_done": delivery["all_done"],
            "suite": suite["summary"] if suite else None,
            "blocked_reason": delivery["blocked_reason"],
            "waiting_for": delivery["waiting_for"],
            "send_backs": delivery["send_backs"],
            "merge_commit": delivery["merge_commit"],
        },
        (
            "story_id",
            "round",
            "branch",
            "all_done",
            "suite",
            "blocked_reason",
            "waiting_for",
            "send_backs",
            "merge_commit",
        ),
        False,
    )
    print_table(
        "Tasks",
        ["task", "attempt", "status", "failures", "commits", "review", "reason"],
        [
            (
                t["task_id"],
                t.get("current_id", t["task_id"]),
                t["status"],
                t["failures"],
                ", ".join(c[:12] for c in t["commits"]),
                t.get("review") or "",
                t["reason"],
            )
            for t in delivery["tasks"]
        ],
    )


def story_accept(
    ctx: typer.Context,
    story_id: str,
    note: Annotated[str, typer.Option(help="A note kept with the acceptance.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Accept a READY_TO_REVIEW story: its branch is merged into the base branch (a conflict is refused)."""
    accepted = _call(ctx, "POST", f"/v1/stories/{story_id}/accept", body={"note": note})
    if as_json:
        print_json(accepted)
        return
    merged = "already merged" if accepted["already_merged"] else "merged"
    out.print(f"{story_id} ACCEPTED: {merged} as {accepted['merge_commit']}", markup=False, highlight=False)


def story_send_back(
    ctx: typer.Context,
    story_id: str,
    reason: Annotated[str, typer.Option(help="What to change (the agents see it in the next round).")],
    as_json: JsonFlag = False,
) -> None:
    """Send delivered work back to IN_PROGRESS, with the reason."""
    story = _call(ctx, "POST", f"/v1/stories/{story_id}/send-back", body={"reason": reason})
    _show(story, STORY_FIELDS, as_json)


def register(app: typer.Typer) -> None:
    """Adds the commands to `fleet story` (registered by cli.planning)."""
    story_app.command("delivery")(story_delivery)
    story_app.command("accept")(story_accept)
    story_app.command("send-back")(story_send_back)
