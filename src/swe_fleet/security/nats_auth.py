"""NATS identities of least privilege (ADR 0801): one user per service, its subjects and nothing else.

Each service connects as its own user with a generated password. Its permissions allow publishing
its own subjects (planning: `planning.>`; agent workers: `agent.response.>`...), dead-lettering
what its own durables consume (`dlq.<their filter>`), and exactly the JetStream API calls its own
durables need (create/info/next/ack on `<stream>.<durable>`), reading stream metadata
(`STREAM.INFO`) to check the streams exist, and its own reply inbox (`_INBOX_<user>.>`). Creating,
updating or deleting streams, and every other durable, belong to the `fleet-admin` identity
(provisioning, the CLI's backbone commands, `fleet verify`).

Everything here is pure text and files: the embedded server gets `server_config(...)`; production
gets the same from `fleet nats-config`; clients get `client_options(settings, user)`.
"""

from __future__ import annotations

import json
import secrets
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swe_fleet.security.secret_files import read_secret, write_secret

ADMIN = "fleet-admin"
# What each service publishes (its own events). Dead letters and JetStream API calls are derived.
SERVICE_PUBLISHES: dict[str, tuple[str, ...]] = {
    "planning": ("planning.>",),
    "context": ("context.>",),
    "orchestrator": ("orchestration.>", "agent.cmd.>"),
    "agent-worker": ("agent.response.>",),
    "sentinel": (),
    "workspace": ("workspace.>",),
    "review": ("workspace.review.>",),
    "board": (),
}
# What a service watches as it happens (plain subscriptions, no durable, nothing acknowledged): the
# board's live pages. Its changes go through the HTTP API; replaying a dead letter is the admin's.
SERVICE_WATCHES: dict[str, tuple[str, ...]] = {
    "board": (
        "planning.>",
        "orchestration.>",
        "agent.cmd.>",
        "agent.response.>",
        "context.>",
        "workspace.>",
        "dlq.>",
        "operations.>",
    ),
}


@dataclass(frozen=True)
class Durable:
    stream: str
    durable: str
    filter_subject: str


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def allows_publish(self, subject: str) -> bool:
        return any(_matches(pattern, subject) for pattern in self.publish)


@dataclass(frozen=True)
class Policy:
    """Every identity's permissions; the admin's are unrestricted."""

    services: dict[str, Permissions] = field(default_factory=dict)

    @property
    def users(self) -> list[str]:
        return [ADMIN, *self.services]


def inbox_prefix(user: str) -> str:
    return "_INBOX_" + "".join(c if c.isalnum() else "_" for c in user)


def service_permissions(
    user: str,
    *,
    publishes: Iterable[str],
    durables: Iterable[Durable],
    streams: Iterable[str],
    kv_buckets: Iterable[str] = (),
    watches: Iterable[str] = (),
) -> Permissions:
    api = "$JS.API"
    publish: list[str] = list(publishes)
    subscribe: list[str] = [f"{inbox_prefix(user)}.>", *watches]
    # Reading stream metadata only (no messages): services check the streams exist at start-up.
    publish += [f"{api}.STREAM.INFO.{stream}" for stream in streams]
    for d in durables:
        publish += [
            f"{api}.CONSUMER.CREATE.{d.stream}.{d.durable}",
            f"{api}.CONSUMER.CREATE.{d.stream}.{d.durable}.>",
            f"{api}.CONSUMER.DURABLE.CREATE.{d.stream}.{d.durable}",
            f"{api}.CONSUMER.INFO.{d.stream}.{d.durable}",
            f"{api}.CONSUMER.MSG.NEXT.{d.stream}.{d.durable}",
            f"$JS.ACK.{d.stream}.{d.durable}.>",
            # A message whose deliveries ran out is read back by its sequence to dead-letter it.
            f"{api}.STREAM.MSG.GET.{d.stream}",
            f"{api}.DIRECT.GET.{d.stream}",
            f"{api}.DIRECT.GET.{d.stream}.>",
            f"dlq.{d.filter_subject}",
        ]
        subscribe.append(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{d.stream}.{d.durable}")
    for bucket in kv_buckets:
        # The service's own key-value state: its bucket's stream and keys, no other.
        stream = f"KV_{bucket}"
        publish += [
            f"$KV.{bucket}.>",
            f"{api}.*.*.{stream}",  # STREAM.INFO/CREATE/UPDATE, CONSUMER.CREATE (watchers), DIRECT.GET
            f"{api}.*.*.{stream}.>",  # DIRECT.GET of a key, CONSUMER.CREATE/DELETE of a named watcher
            f"{api}.STREAM.MSG.GET.{stream}",
            f"$JS.FC.{stream}.>",  # flow-control answers of a watcher
            f"$JS.ACK.{stream}.>",
        ]
    return Permissions(tuple(dict.fromkeys(publish)), tuple(dict.fromkeys(subscribe)))


def build_policy(
    durables_by_service: Mapping[str, Sequence[Durable]],
    streams: Iterable[str],
    *,
    kv_buckets_by_service: Mapping[str, Sequence[str]] | None = None,
) -> Policy:
    stream_names = list(streams)
    buckets = kv_buckets_by_service or {}
    services = {
        name: service_permissions(
            name,
            publishes=publishes,
            durables=durables_by_service.get(name, ()),
            streams=stream_names,
            kv_buckets=buckets.get(name, ()),
            watches=SERVICE_WATCHES.get(name, ()),
        )
        for name, publishes in SERVICE_PUBLISHES.items()
    }
    return Policy(services)


# ------------------------------------------------------------------ credentials and server config


def creds_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "nats" / "creds"


def ensure_credentials(directory: Path, users: Iterable[str]) -> dict[str, str]:
    """user -> password, generated on first use into `directory/<user>.json` (0600), never printed."""
    passwords = {}
    for user in users:
        path = directory / f"{user}.json"
        if not path.exists():
            write_secret(path, json.dumps({"user": user, "password": secrets.token_urlsafe(32)}))
        passwords[user] = json.loads(read_secret(path))["password"]
    return passwords


def server_authorization(policy: Policy, passwords: Mapping[str, str]) -> str:
    """The `authorization { users = [...] }` block of a nats-server config (JSON is valid NATS config)."""
    users: list[dict[str, Any]] = [{"user": ADMIN, "password": passwords[ADMIN]}]
    for name, permissions in policy.services.items():
        users.append(
            {
                "user": name,
                "password": passwords[name],
                "permissions": {
                    "publish": {"allow": list(permissions.publish)},
                    "subscribe": {"allow": list(permissions.subscribe)},
                },
            }
        )
    return "authorization: " + json.dumps({"users": users}, indent=2)


def tls_block(cert: Path | None, key: Path | None, ca: Path | None, *, verify_clients: bool) -> str:
    """The server's `tls {}` block: its certificate, and with `verify_clients` mutual TLS against `ca`."""
    if cert is None or key is None:
        return ""
    lines = [f'  cert_file: "{cert}"', f'  key_file: "{key}"']
    if ca is not None:
        lines.append(f'  ca_file: "{ca}"')
    if verify_clients:
        lines.append("  verify: true")
    return "tls {\n" + "\n".join(lines) + "\n}"


# ------------------------------------------------------------------ clients


class NatsCredentialsMissing(OSError):
    """No credentials for an identity where some were expected."""


def client_options(settings: Any, user: str) -> dict[str, Any]:
    """nats.connect() options for `user`: its password, its inbox prefix, TLS if configured.

    From FLEET_NATS_USER/FLEET_NATS_PASSWORD, else FLEET_NATS_CREDS (a file as written by
    `fleet nats-config`), else `<data dir>/nats/creds/<user>.json` when the embedded server made it;
    no credentials at all means an anonymous connection (a server without authorisation).
    """
    options: dict[str, Any] = {}
    creds: dict[str, Any] | None = None
    if settings.nats_user:
        creds = {"user": settings.nats_user, "password": settings.nats_password or ""}
    elif settings.nats_creds:
        creds = json.loads(read_secret(Path(settings.nats_creds)))
    else:
        path = creds_dir(settings.data_dir) / f"{user}.json"
        if path.exists():
            creds = json.loads(read_secret(path))
    if creds is not None:
        options.update(
            user=creds["user"], password=creds["password"], inbox_prefix=inbox_prefix(creds["user"])
        )
    context = tls_context(settings)
    if context is not None:
        options["tls"] = context
    return options


def tls_context(settings: Any) -> ssl.SSLContext | None:
    if not (settings.nats_tls_ca or settings.nats_tls_cert):
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.nats_tls_ca or None)
    if settings.nats_tls_cert:
        context.load_cert_chain(settings.nats_tls_cert, settings.nats_tls_key or None)
    return context


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for index, token in enumerate(p):
        if token == ">":
            return len(s) > index
        if index >= len(s) or (token != "*" and token != s[index]):
            return False
    return len(p) == len(s)
