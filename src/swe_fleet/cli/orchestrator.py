"""`fleet deliberations ls|show`: what the councils deliberate, read from the Orchestrator's state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from swe_fleet.cli.common import CliError, nats_connection, print_json, print_table, run, settings

deliberations_app = typer.Typer(
    help="Council deliberations: progress, winner, failures.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


async def _store(nc: Any, bucket: str):
    from nats.js.errors import BucketNotFoundError

    from swe_fleet.orchestrator.adapters.state_store import StateStore

    try:
        await nc.jetstream().key_value(bucket)
    except BucketNotFoundError:
        raise CliError(
            f"no orchestrator state: bucket {bucket} does not exist (has the orchestrator run?)"
        ) from None
    return await StateStore.open(nc.jetstream(), bucket)


@deliberations_app.command("ls")
def deliberations_ls(
    ctx: typer.Context,
    story: Annotated[str | None, typer.Option(help="Only this story's deliberations.")] = None,
    active: Annotated[bool, typer.Option("--active", help="Only those still running.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every deliberation the orchestrator knows, oldest first."""
    from swe_fleet.orchestrator.adapters.state_store import DELIBERATION_PREFIX
    from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState

    config = settings(ctx)

    async def body() -> list[DeliberationState]:
        async with nats_connection(config, "deliberations") as nc:
            store = await _store(nc, config.orchestrator_bucket)
            found = []
            for key in await store.keys(DELIBERATION_PREFIX):
                state, _ = await store.get(key, DeliberationState)
                if state is not None:
                    found.append(state)
            return found

    states = [
        s
        for s in run(body())
        if (story is None or s.story_id == story) and (not active or not s.status.terminal)
    ]
    states.sort(key=lambda s: s.started_at)
    rows = [
        {
            "deliberation": s.deliberation_id,
            "story": s.story_id,
            "task": s.task.title,
            "role": s.council.role.value,
            "status": s.status.value,
            "proposals": s.stage_summary,
            "waiting_for": len(s.pending),
            "winner": s.winner or "",
            "failures": len(s.failures),
            "started": _when(s.started_at),
        }
        for s in states
    ]
    if as_json:
        print_json(rows)
        return
    columns = list(rows[0]) if rows else ["deliberation", "story", "task", "role", "status"]
    print_table(None, columns, [list(row.values()) for row in rows])


# Over 60 lines: one command printing one deliberation's sections in order (proposals, critiques,
# scores, failures, winner, tokens); each block is a few lines of output.
@deliberations_app.command("show")
def deliberations_show(ctx: typer.Context, deliberation_id: str, as_json: JsonFlag = False) -> None:
    """One deliberation: its proposals, critiques, scores, failures and why the winner won."""
    from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState

    config = settings(ctx)

    async def body() -> DeliberationState:
        async with nats_connection(config, "deliberations") as nc:
            store = await _store(nc, config.orchestrator_bucket)
            state = await store.deliberation(deliberation_id)
            if state is None:
                raise CliError(f"no deliberation {deliberation_id!r} (see `fleet deliberations ls`)", 4)
            return state

    from swe_fleet.cli.graph import story_usage
    from swe_fleet.orchestrator.domain.budget import estimate_tokens

    state = run(body())
    usage, why_not = story_usage(ctx, state.story_id)
    recorded = (usage or {}).get("by_deliberation", {}).get(state.deliberation_id)
    if as_json:
        document = state.model_dump(mode="json", exclude={"outbox"})
        print_json({**document, "usage": recorded, "usage_error": why_not or None})
        return
    typer.echo(f"{state.deliberation_id}: {state.council.role.value} council on {state.task.title!r}")
    typer.echo(f"story {state.story_id}, plan {state.plan_id}, task {state.task.task_id}")
    typer.echo(
        f"status {state.status.value} ({state.stage_summary}), {state.council.agents} agent(s), "
        f"{state.council.rounds} round(s), started {_when(state.started_at)}, "
        f"ended {_when(state.ended_at) or '-'}"
    )
    typer.echo(
        f"tokens: {state.spent_tokens} reported by its answers, up to {estimate_tokens(state.council)} "
        "estimated for its council"
    )
    if recorded is not None:
        typer.echo(
            f"recorded calls: {recorded['prompt_tokens']} prompt + "
            f"{recorded['completion_tokens']} completion tokens, "
            f"{recorded['llm_seconds']} s of LLM time over {recorded['llm_calls']} call(s)"
        )
    elif why_not:
        typer.echo(f"recorded calls: unknown ({why_not})")
    if state.budget_note:
        typer.echo(f"budget: {state.budget_note}")
    for pending in state.pending.values():
        typer.echo(
            f"waiting for {pending.agent_id}: {pending.kind.value} of {pending.target_agent_id}'s proposal "
            f"(round {pending.round}) until {_when(pending.deadline)}"
        )
    print_table(
        "proposals",
        ["agent", "revision", "summary", "critiques received", "status"],
        [
            (
                agent,
                versions[-1].revision,
                versions[-1].proposal.summary[:80],
                sum(1 for c in state.critiques if c.author == agent),
                "winner"
                if agent == state.winner
                else ("out: " + state.out[agent] if agent in state.out else ""),
            )
            for agent, versions in sorted(state.versions.items())
        ],
    )
    if state.failures:
        print_table(
            "failures", ["agent", "phase", "error"], [(f.agent_id, f.phase, f.error) for f in state.failures]
        )
    if state.outcome:
        typer.echo(f"outcome: {state.outcome}")


def register(app: typer.Typer) -> None:
    app.add_typer(deliberations_app, name="deliberations")
