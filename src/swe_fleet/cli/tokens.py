"""`fleet token`: bearer tokens for the HTTP API, signed by the fleet's own issuer (<data dir>/auth/).

With an OIDC provider (FLEET_AUTH_JWKS_URL) tokens come from that provider instead, not from here.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from swe_fleet.cli.common import err, fail, settings
from swe_fleet.security.identity import Role

token_app = typer.Typer(help="Bearer tokens for the HTTP API (the fleet's own issuer).", no_args_is_help=True)


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    subject: Annotated[str, typer.Option("--subject", help="Who the token names (recorded as the actor).")],
    role: Annotated[list[Role], typer.Option("--role", help="viewer, product_owner or service (repeat).")],
    days: Annotated[float, typer.Option("--days", min=0.001, max=3650, help="Valid for this long.")] = 30.0,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write it to this file (mode 0600) instead of stdout.")
    ] = None,
) -> None:
    """Sign a token; it goes to stdout (for a secret store) or to a 0600 file with --out."""
    from swe_fleet.security.api_auth import local_issuer
    from swe_fleet.security.secret_files import write_secret

    s = settings(ctx)
    if s.auth_jwks_url:
        fail("FLEET_AUTH_JWKS_URL is set: tokens come from your OIDC provider, not from `fleet token`", 2)
    try:
        token = local_issuer(s).issue(subject, role, timedelta(days=days))
    except ValueError as error:
        fail(str(error), 2)
    if out_file is None:
        typer.echo(token)
        return
    write_secret(out_file, token + "\n", replace=True)
    err.print(
        f"token for {subject} ({', '.join(r.value for r in role)}) written to {out_file}", highlight=False
    )


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
