"""What every `fleet` command shares: settings from flags and environment, one-line errors, output."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from swe_fleet.settings import FleetSettings

T = TypeVar("T")

# Data goes to stdout; progress and errors go to stderr.
# Piped output keeps whole rows (a terminal wraps to its width).
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, soft_wrap=True)


class CliError(Exception):
    """An error the CLI reports as one line and a non-zero exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"fleet: {message}", err=True)
    raise typer.Exit(code)


def settings(ctx: typer.Context) -> FleetSettings:
    overrides: dict[str, Any] = {}
    root = ctx.find_root()
    if root.obj:
        overrides = {key: value for key, value in root.obj.items() if value is not None}
    try:
        return FleetSettings(**overrides)
    except Exception as error:
        fail(f"invalid settings: {error}", 2)


def run(coroutine: Coroutine[Any, Any, T], *, translate: Sequence[tuple[type[Exception], int]] = ()) -> T:
    """Run an async command; known errors become one line on stderr and a non-zero exit code."""
    from swe_fleet.backbone.connection import NatsUnavailable

    try:
        return asyncio.run(coroutine)
    except CliError as error:
        fail(str(error), error.code)
    except NatsUnavailable as error:
        fail(str(error), 3)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as error:
        for error_type, code in translate:
            if isinstance(error, error_type):
                fail(str(error), code)
        raise


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(table)


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


@contextlib.asynccontextmanager
async def nats_connection(settings: FleetSettings, name: str) -> AsyncIterator[Any]:
    """A connection for a one-shot command: fails at once (one line) when NATS is unreachable."""
    from swe_fleet.backbone.connection import connect
    from swe_fleet.security.nats_auth import ADMIN, client_options

    # The admin identity: these commands provision, inspect and replay across every stream.
    options = client_options(settings, ADMIN)
    nc = await connect(settings.resolved_nats_url, f"fleet-cli-{name}", wait_seconds=0, options=options)
    try:
        yield nc
    finally:
        await nc.close()
