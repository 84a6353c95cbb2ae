"""`fleet streams|consumers|events|dlq`: the event backbone from the command line."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from swe_fleet.cli.common import (
    CliError,
    err,
    fail,
    nats_connection,
    out,
    print_json,
    print_table,
    run,
    settings,
)
from swe_fleet.events.catalogue import CATALOGUE

streams_app = typer.Typer(help="JetStream streams: provision and inspect.", no_args_is_help=True)
consumers_app = typer.Typer(
    help="Durable consumers: who reads what, and how far behind.", no_args_is_help=True
)
events_app = typer.Typer(help="Publish, follow and describe events.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: what could not be processed, and why.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


# ------------------------------------------------------------------ streams


@streams_app.command("ensure")
def streams_ensure(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Create or update the streams (idempotent; never deletes a stream)."""
    from swe_fleet.backbone.provisioning import ensure_streams

    async def body() -> list[Any]:
        s = settings(ctx)
        async with nats_connection(s, "streams") as nc:
            return await ensure_streams(nc.jetstream(), replicas=s.resolved_nats_replicas)

    from swe_fleet.errors import ConfigurationError

    result = run(body(), translate=[(ConfigurationError, 2), (RuntimeError, 1)])
    if as_json:
        print_json([{"stream": p.name, "change": p.change.value, "detail": p.detail} for p in result])
    else:
        print_table(
            None, ["stream", "change", "detail"], [(p.name, p.change.value, p.detail) for p in result]
        )


@streams_app.command("ls")
def streams_ls(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The fleet's streams: expected vs found, storage, messages, consumers."""
    from swe_fleet.backbone.inspection import describe_streams

    async def body() -> list[dict[str, Any]]:
        async with nats_connection(settings(ctx), "streams") as nc:
            return await describe_streams(nc.jetstream())

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    print_table(
        None,
        ["stream", "found", "subjects", "storage", "messages", "bytes", "last seq", "consumers"],
        [
            (
                r["stream"],
                "yes" if r["found"] else "MISSING",
                ", ".join(r["subjects"]),
                r["storage"],
                r["messages"],
                r["bytes"],
                r["last_seq"],
                r["consumers"],
            )
            for r in rows
        ],
    )
    if not all(r["found"] for r in rows):
        raise typer.Exit(1)


# ------------------------------------------------------------------ consumers


@consumers_app.command("ls")
def consumers_ls(
    ctx: typer.Context,
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Durable consumers with their filter, pending, ack-pending and redelivered counts."""
    from swe_fleet.backbone.inspection import describe_consumers

    async def body() -> list[dict[str, Any]]:
        async with nats_connection(settings(ctx), "consumers") as nc:
            return await describe_consumers(nc.jetstream(), stream)

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    print_table(
        None,
        ["durable", "stream", "filter", "pending", "ack pending", "redelivered", "waiting"],
        [
            (
                r["durable"],
                r["stream"],
                r["filter_subject"],
                r["pending"],
                r["ack_pending"],
                r["redelivered"],
                r["waiting"],
            )
            for r in rows
        ],
    )


# ------------------------------------------------------------------ events


def _read_document(document: str) -> bytes:
    return (sys.stdin.read() if document == "-" else document).encode()


@events_app.command("publish")
def events_publish(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="A subject of the catalogue, e.g. planning.plan.approved.")],
    document: Annotated[str, typer.Argument(help="The payload as JSON ('-' reads stdin).")],
    raw: Annotated[
        bool, typer.Option("--raw", help="Publish the bytes as given, unvalidated (as `nats pub` does).")
    ] = False,
    correlation_id: Annotated[str | None, typer.Option(help="Correlation id for the envelope.")] = None,
) -> None:
    """Publish an event: the JSON payload is validated against the subject's model and enveloped."""
    from swe_fleet.backbone.provisioning import ensure_streams
    from swe_fleet.backbone.publisher import EventPublisher
    from swe_fleet.events.envelope import new_event_id

    data = _read_document(document)
    spec = CATALOGUE.get(subject)
    payload = None
    if not raw:
        if spec is None:
            fail(f"unknown subject {subject!r}; see `fleet events subjects`", 2)
        try:
            payload = spec.model.model_validate_json(data)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(map(str, first["loc"])) or "payload"
            fail(f"invalid {spec.model.__name__}: {field}: {first['msg']}", 2)

    async def body() -> tuple[int, str]:
        s = settings(ctx)
        async with nats_connection(s, "publish") as nc:
            js = nc.jetstream()
            await ensure_streams(js, replicas=s.resolved_nats_replicas)
            publisher = EventPublisher(js, "fleet-cli")
            if payload is None:
                event_id = new_event_id()
                ack = await publisher.publish_raw(subject, data, msg_id=event_id)
                return ack.seq, event_id
            envelope = publisher.envelope(subject, payload, correlation_id=correlation_id)
            ack = await publisher.publish_envelope(envelope)
            return ack.seq, envelope.event_id

    seq, event_id = run(body())
    out.print(f"published {subject} seq {seq} event_id {event_id}")


@events_app.command("tail")
def events_tail(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="Subject or wildcard, e.g. planning.> .")] = ">",
    last: Annotated[int, typer.Option(help="Start this many events back (0: only new ones).")] = 10,
    count: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Follow events as they arrive (an ephemeral ordered consumer: it takes nothing from the durables)."""
    from swe_fleet.backbone.inspection import tail_events

    async def body() -> None:
        async with nats_connection(settings(ctx), "tail") as nc:
            async for event in tail_events(nc.jetstream(), subject, last=last, count=count):
                if as_json:
                    sys.stdout.write(json.dumps(event, default=str) + "\n")
                else:
                    sys.stdout.write(
                        f"{event['stream']}#{event['seq']} {event['time']} {event['subject']} "
                        f"{event['data']}\n"
                    )
                sys.stdout.flush()

    run(body(), translate=[(LookupError, 2)])


@events_app.command("subjects")
def events_subjects(as_json: JsonFlag = False) -> None:
    """The event catalogue: subjects, payload models, schema versions."""
    rows = [
        (s, spec.model.__name__, ",".join(map(str, spec.schema_versions)), spec.description)
        for s, spec in sorted(CATALOGUE.items())
    ]
    if as_json:
        print_json(
            [dict(zip(["subject", "model", "versions", "description"], row, strict=True)) for row in rows]
        )
    else:
        print_table(None, ["subject", "payload", "versions", "description"], rows)


@events_app.command("schema")
def events_schema(
    asyncapi: Annotated[bool, typer.Option("--asyncapi", help="An AsyncAPI 3 document.")] = False,
) -> None:
    """Export the event vocabulary as JSON Schema (or AsyncAPI)."""
    from swe_fleet.events.schema_export import asyncapi_document, json_schemas

    print_json(asyncapi_document() if asyncapi else json_schemas())


# ------------------------------------------------------------------ dead letters


@dlq_app.command("ls")
def dlq_ls(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Dead letters with their reason, origin and number of deliveries."""
    from swe_fleet.backbone.dead_letters import list_dead_letters

    async def body() -> list[Any]:
        async with nats_connection(settings(ctx), "dlq") as nc:
            return await list_dead_letters(nc.jetstream(), limit=limit)

    letters = run(body(), translate=[(LookupError, 1)])
    if as_json:
        print_json(
            [
                {
                    **{k: v for k, v in letter.__dict__.items() if k != "data"},
                    "data": letter.data.decode(errors="replace"),
                }
                for letter in letters
            ]
        )
        return
    print_table(
        None,
        ["seq", "reason", "subject", "from", "consumer", "deliveries", "detail"],
        [
            (
                d.seq,
                d.reason,
                d.original_subject,
                f"{d.original_stream}#{d.original_seq or '-'}",
                d.consumer,
                d.deliveries,
                d.detail[:100],
            )
            for d in letters
        ],
    )
    err.print(f"{len(letters)} dead letter(s)")


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    seqs: Annotated[list[int] | None, typer.Argument(help="Dead-letter sequence numbers.")] = None,
    all_letters: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    reason: Annotated[str | None, typer.Option(help="Only dead letters with this reason.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the dead letters after replaying them.")] = False,
) -> None:
    """Republish dead letters to their original subjects (after fixing the cause)."""
    from swe_fleet.backbone.dead_letters import list_dead_letters, replay_dead_letter
    from swe_fleet.backbone.publisher import EventPublisher

    if not seqs and not all_letters and reason is None:
        fail("say which dead letters to replay: SEQ..., --all or --reason", 2)

    async def body() -> list[tuple[int, str, int]]:
        async with nats_connection(settings(ctx), "dlq") as nc:
            js = nc.jetstream()
            letters = await list_dead_letters(js, limit=1_000_000)
            chosen = [
                d
                for d in letters
                if (all_letters or not seqs or d.seq in seqs) and (reason is None or d.reason == reason)
            ]
            missing = set(seqs or []) - {d.seq for d in letters}
            if missing:
                raise CliError(f"no dead letter with seq {', '.join(map(str, sorted(missing)))}", 1)
            publisher = EventPublisher(js, "fleet-cli")
            done = []
            for index, letter in enumerate(chosen, 1):
                new_seq = await replay_dead_letter(js, publisher, letter, keep=keep)
                done.append((letter.seq, letter.original_subject, new_seq))
                if sys.stderr.isatty():
                    err.print(f"replayed {index}/{len(chosen)}", end="\r")
            return done

    done = run(body())
    for dlq_seq, subject, new_seq in done:
        out.print(f"replayed dead letter {dlq_seq} to {subject} (seq {new_seq})")
    err.print(f"{len(done)} replayed")


def register(app: typer.Typer) -> None:
    app.add_typer(streams_app, name="streams")
    app.add_typer(consumers_app, name="consumers")
    app.add_typer(events_app, name="events")
    app.add_typer(dlq_app, name="dlq")
