"""The fleet's NATS identities, from what the services declare; `fleet nats-config` for production.

The embedded server (`fleet up`) starts with this policy on; `fleet nats-config OUT` writes the same
policy, with fresh credentials, as a server config and one credentials file per identity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from swe_fleet.cli.common import err, fail, settings
from swe_fleet.security.nats_auth import (
    ADMIN,
    Durable,
    Policy,
    build_policy,
    creds_dir,
    ensure_credentials,
    server_authorization,
    tls_block,
)
from swe_fleet.settings import FleetSettings


def fleet_policy(s: FleetSettings) -> Policy:
    """Each service's durables (as `fleet verify` expects them) and the orchestrator's KV bucket."""
    from swe_fleet.events.streams import STREAMS
    from swe_fleet.verify.expected import expected_consumers
    from swe_fleet.workspace.adapters.approval_store import BUCKET as APPROVALS_BUCKET
    from swe_fleet.workspace.adapters.result_ledger import BUCKET as WORKSPACE_BUCKET

    durables: dict[str, list[Durable]] = {}
    for service, spec in expected_consumers():
        durables.setdefault(service, []).append(Durable(spec.stream, spec.durable, spec.filter_subject))
    return build_policy(
        durables,
        [spec.name for spec in STREAMS],
        kv_buckets_by_service={
            "orchestrator": [s.orchestrator_bucket],
            "workspace": [WORKSPACE_BUCKET, APPROVALS_BUCKET],
        },
    )


def embedded_authorization(s: FleetSettings) -> str:
    """The embedded server's `authorization` block; credentials made on first start under the data dir."""
    policy = fleet_policy(s)
    return server_authorization(policy, ensure_credentials(creds_dir(s.data_dir), policy.users))


def nats_config(
    ctx: typer.Context,
    out_dir: Annotated[
        Path, typer.Argument(help="Where to write nats-server.conf and creds/<identity>.json.")
    ],
    listen: Annotated[str, typer.Option(help="The server's listen address.")] = "0.0.0.0:4222",
    store_dir: Annotated[str, typer.Option(help="The server's JetStream store.")] = "/var/lib/nats/jetstream",
    tls_cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM): turns TLS on.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Server private key (PEM).")] = None,
    tls_ca: Annotated[Path | None, typer.Option(help="CA that signed the clients' certificates.")] = None,
    mtls: Annotated[bool, typer.Option("--mtls", help="Require client certificates (mutual TLS).")] = False,
) -> None:
    """Write a production nats-server config with one least-privilege identity per service.

    Credentials are generated (kept if already there), written 0600, never printed. Give each
    service its file: FLEET_NATS_CREDS=creds/<service>.json; the admin's is for `fleet streams
    ensure`, `fleet verify` and the backbone commands.
    """
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together", 2)
    if mtls and (tls_cert is None or tls_ca is None):
        fail("--mtls needs --tls-cert, --tls-key and --tls-ca", 2)
    s = settings(ctx)
    policy = fleet_policy(s)
    passwords = ensure_credentials(out_dir / "creds", policy.users)
    blocks = [
        f"listen: {json.dumps(listen)}",
        f"jetstream {{ store_dir: {json.dumps(store_dir)} }}",
        server_authorization(policy, passwords),
        tls_block(tls_cert, tls_key, tls_ca, verify_clients=mtls),
    ]
    from swe_fleet.security.secret_files import write_secret

    config = out_dir / "nats-server.conf"
    write_secret(config, "\n".join(block for block in blocks if block) + "\n", replace=True)
    err.print(f"wrote {config} and {len(policy.users)} credentials in {out_dir / 'creds'}:", highlight=False)
    for user in policy.users:
        role = "streams, verify, backbone commands" if user == ADMIN else f"fleet serve {user}"
        err.print(f"  {out_dir / 'creds' / (user + '.json')}  ({role})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("nats-config")(nats_config)
