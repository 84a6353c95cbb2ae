"""`fleet`: the command line of SWE Fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swe_fleet import __version__
from swe_fleet.cli import agents as agents_cli
from swe_fleet.cli import backbone, demo, up, verify
from swe_fleet.cli import delivery as delivery_cli
from swe_fleet.cli import evaluation as evaluation_cli
from swe_fleet.cli import graph as graph_cli
from swe_fleet.cli import nats_auth as nats_auth_cli
from swe_fleet.cli import orchestrator as orchestrator_cli
from swe_fleet.cli import planning as planning_cli
from swe_fleet.cli import tasks as tasks_cli
from swe_fleet.cli import tokens as tokens_cli

app = typer.Typer(
    name="fleet",
    help="SWE Fleet: a council of AI agents working for a Product Owner, over NATS JetStream.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fleet {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option(envvar="FLEET_DATA_DIR", help="Where embedded data lives.")
    ] = None,
    nats_url: Annotated[str | None, typer.Option(envvar="FLEET_NATS_URL", help="NATS server URL.")] = None,
    api_url: Annotated[str | None, typer.Option(envvar="FLEET_API_URL", help="The fleet's HTTP API.")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    ctx.obj = {"data_dir": data_dir, "nats_url": nats_url, "api_url": api_url}


backbone.register(app)
planning_cli.register(app)
graph_cli.register(app)
orchestrator_cli.register(app)
up.register(app)
agents_cli.register(app)
verify.register(app)
demo.register(app)
tasks_cli.register(app)
tokens_cli.register(app)
nats_auth_cli.register(app)
evaluation_cli.register(app)
delivery_cli.register(app)
