"""`fleet graph query|stats` and `fleet context get|rehydrate`: the Context service's API from the shell.

Everything goes through the HTTP API (`FLEET_CONTEXT_URL`, default the fleet's own API): the
embedded graph belongs to the one process that runs the Context service.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from swe_fleet.cli.common import fail, out, print_json, print_table, settings
from swe_fleet.security.client_token import WHERE, bearer_headers, client_token
from swe_fleet.security.secret_files import SecretFileError

graph_app = typer.Typer(help="The decision graph: read-only queries and counts.", no_args_is_help=True)
context_app = typer.Typer(
    help="Surgical contexts for agents, as the Context service assembles them.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _call(ctx: typer.Context, method: str, path: str, **kwargs: Any) -> Any:
    s = settings(ctx)
    base = s.resolved_context_url
    try:
        headers = bearer_headers(client_token(s))
    except SecretFileError as error:
        fail(str(error), 2)
    try:
        response = httpx.request(method, f"{base}{path}", timeout=30.0, headers=headers, **kwargs)
    except httpx.TransportError as error:
        fail(
            f"cannot reach the Context service at {base} ({type(error).__name__}); is `fleet up` running?", 3
        )
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if isinstance(detail, list):  # FastAPI validation errors
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail)
        hint = f"; {WHERE}" if response.status_code == 401 else ""
        fail(f"{detail} (HTTP {response.status_code}){hint}", 2 if response.status_code < 500 else 1)
    return response.json()


def _parse_params(params: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"--param {item!r}: expected NAME=VALUE (VALUE is JSON, or a plain string)", 2)
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)


@graph_app.command("query")
def graph_query(
    ctx: typer.Context,
    cypher: Annotated[str, typer.Argument(help="A read-only Cypher query.")],
    param: Annotated[list[str], typer.Option("--param", "-p", help="NAME=VALUE (JSON), repeatable.")] = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Run a read-only Cypher query against the decision graph (writes are refused)."""
    result = _call(ctx, "POST", "/v1/graph/query", json={"cypher": cypher, "params": _parse_params(param)})
    if as_json:
        print_json(result)
        return
    columns = result["columns"]
    print_table(None, columns, [[_cell(row.get(column)) for column in columns] for row in result["rows"]])
    suffix = " (truncated)" if result.get("truncated") else ""
    out.print(f"{result['row_count']} row(s){suffix}")


@graph_app.command("stats")
def graph_stats(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Node counts per label and relationship counts per type, with the graph version."""
    result = _call(ctx, "GET", "/v1/graph/stats")
    if as_json:
        print_json(result)
        return
    rows = [("node", name, count) for name, count in result["nodes"].items() if count]
    rows += [("relationship", name, count) for name, count in result["relationships"].items() if count]
    print_table(f"{result['store']} graph, version {result['version']}", ["kind", "name", "count"], rows)


def _print_pack(pack: dict[str, Any]) -> None:
    out.print(
        f"[bold]{pack['role']}[/bold] on {pack['story_id']} ({pack['phase']}"
        + (f", task {pack['task_id']}" if pack.get("task_id") else "")
        + f"): {pack['token_count']}/{pack['token_budget']} tokens ({pack['tokenizer']}), "
        f"version {pack['version']}{', cached' if pack.get('cached') else ''}",
        highlight=False,
    )
    out.print(f"included: {', '.join(pack['sections_included']) or '-'}", highlight=False)
    if pack["sections_cut"]:
        out.print(f"cut: {', '.join(pack['sections_cut'])}", highlight=False)
    for name in ("system", "context", "tools"):
        if pack["blocks"][name]:
            out.rule(name)
            out.print(pack["blocks"][name], markup=False, highlight=False)


@context_app.command("get")
def context_get(
    ctx: typer.Context,
    story_id: Annotated[str, typer.Argument(help="The story.")],
    role: Annotated[str, typer.Option("--role", help="DEV, ARCHITECT, QA, DEVOPS, DATA or PO.")],
    phase: Annotated[
        str | None, typer.Option("--phase", help="A story state (default: the story's).")
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help="The task the agent works on.")] = None,
    budget: Annotated[int, typer.Option("--budget", min=0, help="Token budget.")] = 2048,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO 8601 instant: the story as it stood then.")
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="Also list superseded decisions, marked so.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """The context an agent of ROLE gets for a story (and task), within a token budget."""
    params: dict[str, Any] = {"role": role, "token_budget": budget}
    if as_of:
        params["as_of"] = as_of
    if history:
        params["history"] = "true"
    if phase:
        params["phase"] = phase
    if task:
        params["task_id"] = task
    pack = _call(ctx, "GET", f"/v1/context/stories/{quote(story_id, safe='')}", params=params)
    if as_json:
        print_json(pack)
    else:
        _print_pack(pack)


@context_app.command("rehydrate")
def context_rehydrate(
    ctx: typer.Context,
    story_id: Annotated[str, typer.Argument(help="The story.")],
    role: Annotated[list[str], typer.Option("--role", help="Repeat for each role.")],
    phase: Annotated[
        str | None, typer.Option("--phase", help="A story state (default: the story's).")
    ] = None,
    budget: Annotated[int, typer.Option("--budget", min=0, help="Token budget per role.")] = 2048,
    as_json: JsonFlag = False,
) -> None:
    """One context pack per role, as a session restarting on the story would get them."""
    body = {"story_id": story_id, "roles": role, "phase": phase, "token_budget": budget}
    result = _call(ctx, "POST", "/v1/context/rehydrate", json=body)
    if as_json:
        print_json(result)
        return
    for pack in result["packs"].values():
        _print_pack(pack)
    for name, reason in result["refused"].items():
        out.print(f"[bold]{name}[/bold]: refused ({reason})", highlight=False)


def _decision_line(decision: dict[str, Any]) -> str:
    until = f" until {decision['valid_until']}" if decision.get("valid_until") else " (current)"
    return (
        f"{decision['id']} [{decision.get('status') or '-'}] {decision.get('title') or ''}: "
        f"{decision.get('rationale') or ''} (from {decision.get('valid_from') or '?'}{until})"
    )


@context_app.command("why")
def context_why(
    ctx: typer.Context,
    decision_id: Annotated[str, typer.Argument(help="The decision.")],
    as_json: JsonFlag = False,
) -> None:
    """Why a decision: its rationale, what it replaced and what replaced it, alternatives, its council."""
    why = _call(ctx, "GET", f"/v1/context/decisions/{quote(decision_id, safe='')}/why")
    if as_json:
        print_json(why)
        return
    out.print(f"[bold]{_decision_line(why['decision'])}[/bold]", markup=True, highlight=False)
    for label, items in (
        ("replaced", why["supersedes"]),
        ("replaced by", [why["superseded_by"]] if why["superseded_by"] else []),
        ("rejected alternative", why["alternatives"]),
    ):
        for item in items:
            out.print(f"  {label}: {_decision_line(item)}", markup=False, highlight=False)
    council = why["deliberation"]
    if council:
        out.print(
            f"  from deliberation {council['id']} on {council['task_id']}: {len(council['agents'])} "
            f"{council['role']} agents, selected {council['winner_agent_id']}",
            markup=False,
            highlight=False,
        )
        for proposal in why["proposals"]:
            mark = "selected" if proposal["selected"] else "proposal"
            out.print(
                f"    {mark} {proposal['id']} by {proposal['agent_id']} (score {proposal['total_score']}): "
                f"{proposal['summary'] or ''}",
                markup=False,
                highlight=False,
            )


@context_app.command("usage")
def context_usage(
    ctx: typer.Context,
    story_id: Annotated[str, typer.Argument(help="The story.")],
    as_json: JsonFlag = False,
) -> None:
    """Where a story's tokens went: per task, council, role and kind of answer, with LLM time."""
    usage = _call(ctx, "GET", f"/v1/context/stories/{quote(story_id, safe='')}/usage")
    if as_json:
        print_json(usage)
        return
    rows = usage_rows(usage, ("by_task", "by_deliberation", "by_role", "by_kind"))
    rows.append(("story", story_id, *usage_totals(usage["total"])))
    print_table(f"tokens of {story_id}", USAGE_COLUMNS, rows)


def story_usage(ctx: typer.Context, story_id: str) -> tuple[dict[str, Any] | None, str]:
    """A story's token roll-up from the Context service, or why there is none (other views go on)."""
    s = settings(ctx)
    try:
        headers = bearer_headers(client_token(s))
        response = httpx.get(
            f"{s.resolved_context_url}/v1/context/stories/{quote(story_id, safe='')}/usage",
            timeout=15.0,
            headers=headers,
        )
    except (SecretFileError, httpx.TransportError) as error:
        return None, f"the Context service cannot be asked ({type(error).__name__})"
    if response.status_code >= 400:
        return None, f"the Context service answered HTTP {response.status_code}"
    return response.json(), ""


def usage_rows(usage: dict[str, Any], groups: tuple[str, ...]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for group in groups:
        for key, totals in usage[group].items():
            rows.append((group[3:], key, *usage_totals(totals)))
    return rows


USAGE_COLUMNS = ["group", "key", "prompt", "completion", "total", "LLM s", "calls", "answers"]


def usage_totals(totals: dict[str, Any]) -> tuple[Any, ...]:
    return (
        totals["prompt_tokens"],
        totals["completion_tokens"],
        totals["tokens"],
        totals["llm_seconds"],
        totals["llm_calls"],
        totals["answers"],
    )


def register(app: typer.Typer) -> None:
    app.add_typer(graph_app, name="graph")
    app.add_typer(context_app, name="context")
