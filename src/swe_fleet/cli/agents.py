"""`fleet llm status|ask|tokens|parallel`: the LLM server the agents use, from the command line.

The server is FLEET_LLM_URL (or --llm-url), else the embedded llama-server's address
(FLEET_HOST:FLEET_LLM_PORT), which `fleet up` starts.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated, Any

import typer

from swe_fleet.cli.common import CliError, print_json, print_table, run, settings

llm_app = typer.Typer(
    help="The LLM server the agents use: status, a question, token counts.", no_args_is_help=True
)

UrlOption = Annotated[
    str | None, typer.Option("--llm-url", envvar="FLEET_LLM_URL", help="OpenAI-compatible server URL.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _client(ctx: typer.Context, llm_url: str | None, **overrides: Any):
    from swe_fleet.llm.client import LlmClient
    from swe_fleet.llm.config import LlmConfig

    config = dataclasses.replace(LlmConfig.from_settings(settings(ctx), llm_url), **overrides)
    return LlmClient(config)


def _unavailable() -> list[tuple[type[Exception], int]]:
    from swe_fleet.llm.errors import LlmRejected, LlmTimedOut, LlmUnavailable

    return [(LlmUnavailable, 3), (LlmTimedOut, 4), (LlmRejected, 1)]


@llm_app.command("status")
def llm_status(ctx: typer.Context, llm_url: UrlOption = None, as_json: JsonFlag = False) -> None:
    """Is the server there, what does it serve, does it tokenize and follow a JSON schema."""
    from swe_fleet.llm.completion import ChatMessage, StructuredOutput

    client = _client(ctx, llm_url)

    async def body() -> dict[str, Any]:
        try:
            models = await client.models()
            tokens = await client.tokenize("How many tokens is this?")
            schema = StructuredOutput(
                "Ok",
                {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean"}},
                    "required": ["ok"],
                    "additionalProperties": False,
                },
            )
            completion = await client.complete(
                [ChatMessage("user", "Answer ok: true.")], output=schema, max_tokens=16
            )
        finally:
            await client.aclose()
        return {
            "url": client.config.base_url,
            "models": models,
            "tokenize": "exact" if tokens is not None else "not offered (estimates)",
            "structured_output": completion.output_mode,
            "probe_answer": completion.content.strip(),
            "probe_ms": round(completion.latency_ms, 1),
        }

    status = run(body(), translate=_unavailable())
    if as_json:
        print_json(status)
    else:
        print_table(None, ["what", "value"], [(key, value) for key, value in status.items()])


@llm_app.command("ask")
def llm_ask(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The question (the user message).")],
    role: Annotated[
        str | None, typer.Option(help="Answer as this role's agent (DEV, QA...); picks its model.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Cap on the answer's tokens.")] = 256,
    llm_url: UrlOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask the LLM one question; the answer on stdout, usage on stderr."""
    from swe_fleet.events.payloads import Role
    from swe_fleet.llm.completion import ChatMessage

    messages = []
    if role is not None:
        from swe_fleet.agents.domain.personas import persona

        try:
            messages.append(ChatMessage("system", persona(Role(role.upper()))))
        except ValueError:
            raise typer.BadParameter(f"{role!r} is not one of {', '.join(r.value for r in Role)}") from None
    messages.append(ChatMessage("user", prompt))
    client = _client(ctx, llm_url)

    async def body():
        try:
            return await client.complete(messages, role=role.upper() if role else None, max_tokens=max_tokens)
        finally:
            await client.aclose()

    completion = run(body(), translate=_unavailable())
    if as_json:
        print_json(
            {
                **completion.__dict__,
                "started_at": completion.started_at.isoformat(),
                "ended_at": completion.ended_at.isoformat(),
            }
        )
        return
    sys.stdout.write(completion.content.strip() + "\n")
    typer.echo(
        f"{completion.model}: {completion.prompt_tokens} prompt + {completion.completion_tokens} completion "
        f"tokens in {completion.latency_ms:.0f} ms ({completion.finish_reason})",
        err=True,
    )


@llm_app.command("tokens")
def llm_tokens(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Text to count ('-' reads stdin).")],
    llm_url: UrlOption = None,
) -> None:
    """The exact token count of TEXT with the server's own tokenizer (the counter Context packs with)."""
    from swe_fleet.llm.tokenizer import llama_cpp_counter

    if text == "-":
        text = sys.stdin.read()
    client = _client(ctx, llm_url)
    url = client.config.base_url
    run(client.aclose())
    counter = llama_cpp_counter(url)
    if counter is None:
        raise CliError("the LLM server offers no tokenizer endpoint, or could not be reached")
    typer.echo(counter.count(text))


@llm_app.command("parallel")
def llm_parallel(
    ctx: typer.Context,
    agents: Annotated[
        int, typer.Option(min=1, max=16, help="Concurrent completions (a council's size).")
    ] = 3,
    tokens: Annotated[int, typer.Option(min=8, help="Tokens per completion (all the same size).")] = 128,
    repeats: Annotated[int, typer.Option(min=1, help="Rounds of one-alone and N-together.")] = 3,
    shared_prefix: Annotated[
        bool, typer.Option(help="Prompts differ only in their last line, as a council's do.")
    ] = False,
    llm_url: UrlOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Wall time of AGENTS concurrent completions over one alone, on this server (1.0 = free)."""
    from swe_fleet.llm.parallel import measure_parallel_cost

    client = _client(ctx, llm_url, concurrency=agents)

    async def body():
        try:
            return await measure_parallel_cost(
                client, agents=agents, completion_tokens=tokens, repeats=repeats, shared_prefix=shared_prefix
            )
        finally:
            await client.aclose()

    cost = run(body(), translate=[*_unavailable(), (RuntimeError, 1)])
    if as_json:
        print_json(cost.as_dict())
    else:
        typer.echo(
            f"{agents} together / 1 alone: {cost.ratio:.2f}x "
            f"({cost.tokens_per_second_alone:.0f} tok/s alone, "
            f"{cost.tokens_per_second_together:.0f} together)"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(llm_app, name="llm")
