"""The Context service's HTTP API (paths under /v1); errors become status codes in bootstrap.

GET  /v1/context/stories/{story_id}?role=&phase=&task_id=&token_budget=&as_of=&history=   a context pack
GET  /v1/context/decisions/{decision_id}/why                             a decision's rationale chain
GET  /v1/context/stories/{story_id}/usage                                where the story's tokens went
POST /v1/context/rehydrate {story_id, roles, phase?, token_budget}       one pack per role
POST /v1/graph/query {cypher, params}                                    read-only Cypher
GET  /v1/graph/stories/{story_id}                                        a story's summary
GET  /v1/graph/stats                                                     nodes and relationships

Every route needs a bearer token (the host adds authentication); context packs, summaries and
counts need the viewer role, raw Cypher over the whole graph a product owner's or a service's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from swe_fleet.context.adapters.graph_reader import StoryGraphReader
from swe_fleet.context.app.service import MAX_TOKEN_BUDGET, ContextService
from swe_fleet.context.domain.model import StoryGraph
from swe_fleet.context.domain.redaction import redact_value
from swe_fleet.graph.port import GraphStore
from swe_fleet.graph.readonly import check_read_only
from swe_fleet.graph.schema import NODES, RELS
from swe_fleet.security.api_auth import require_role
from swe_fleet.security.identity import Role

READ = [Depends(require_role(Role.VIEWER))]
# The whole graph (every story, decision and plan text): not for a viewer's token.
READ_WHOLE_GRAPH = [Depends(require_role(Role.PRODUCT_OWNER, Role.SERVICE))]

DEFAULT_TOKEN_BUDGET = 2048
MAX_QUERY_ROWS = 10_000


class Blocks(BaseModel):
    system: str
    context: str
    tools: str


class ContextPackOut(BaseModel):
    story_id: str
    role: str
    phase: str
    task_id: str | None
    version: int
    token_count: int
    token_budget: int
    tokenizer: str
    blocks: Blocks
    sections_included: list[str]
    sections_cut: list[str]
    sections_shortened: list[str]
    cached: bool
    as_of: str | None = None
    history: bool = False


class RehydrateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    story_id: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1, max_length=20)
    phase: str | None = Field(default=None, description="Default: the story's current state")
    token_budget: int = Field(default=DEFAULT_TOKEN_BUDGET, ge=0, le=MAX_TOKEN_BUDGET)


class RehydrateOut(BaseModel):
    story_id: str
    packs: dict[str, ContextPackOut]
    refused: dict[str, str]


class GraphQueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cypher: str = Field(min_length=1, max_length=20_000)
    params: dict[str, Any] = Field(default_factory=dict)


class GraphQueryOut(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int
    truncated: bool


def build_router(
    service: ContextService,
    store: GraphStore,
    reader: StoryGraphReader,
    *,
    query_timeout_seconds: float = 5.0,
    query_max_rows: int = MAX_QUERY_ROWS,
) -> APIRouter:
    router = APIRouter(prefix="/v1")
    router.include_router(_context_routes(service, reader))
    router.include_router(_graph_routes(store, reader, query_timeout_seconds, query_max_rows))
    return router


# Over 60 lines on purpose: a router factory; its nested functions are the routes, most of the
# length is their query parameters' declarations.
def _context_routes(service: ContextService, reader: StoryGraphReader) -> APIRouter:
    """GetContext and RehydrateSession: what agents ask for."""
    router = APIRouter()

    @router.get(
        "/context/stories/{story_id}",
        response_model=ContextPackOut,
        tags=["context"],
        summary="GetContext: the role's surgical context for a story (and task), within a token budget",
        responses={403: {"description": "the scope policy refuses this role in this phase"}, 404: {}},
        dependencies=READ,
    )
    async def get_context(
        story_id: str,
        role: Annotated[str, Query(min_length=1, max_length=40, description="DEV, ARCHITECT, QA, ...")],
        phase: Annotated[
            str | None, Query(max_length=40, description="A StoryState; default: the story's")
        ] = None,
        task_id: Annotated[str | None, Query(max_length=200)] = None,
        token_budget: Annotated[int, Query(ge=0, le=MAX_TOKEN_BUDGET)] = DEFAULT_TOKEN_BUDGET,
        as_of: Annotated[
            str | None, Query(max_length=64, description="ISO 8601 instant: the story as it stood then")
        ] = None,
        history: Annotated[bool, Query(description="Also list superseded decisions, marked so")] = False,
    ) -> dict[str, Any]:
        pack = await service.get_context(
            story_id, role, phase or None, token_budget, task_id or None, as_of=as_of or None, history=history
        )
        return pack.as_dict()

    @router.get(
        "/context/decisions/{decision_id}/why",
        tags=["context"],
        summary="Why a decision: what it replaced and what replaced it, rejected alternatives, its council",
        responses={404: {"description": "no such decision in the graph"}},
    )
    async def decision_why(decision_id: str) -> Any:
        return redact_value((await reader.why(decision_id)).as_dict())

    @router.get(
        "/context/stories/{story_id}/usage",
        tags=["context"],
        summary="Where a story's tokens went: prompt/completion tokens and LLM time per task, council, role",
        responses={404: {"description": "no such story in the graph"}},
    )
    async def story_usage(story_id: str) -> Any:
        return (await reader.usage(story_id)).as_dict()

    @router.post(
        "/context/rehydrate",
        response_model=RehydrateOut,
        tags=["context"],
        summary="RehydrateSession: one context pack per role (refused roles listed with the reason)",
        dependencies=READ,
    )
    async def rehydrate(body: RehydrateIn) -> dict[str, Any]:
        packs, refused = await service.rehydrate(body.story_id, body.roles, body.phase, body.token_budget)
        return {
            "story_id": body.story_id,
            "packs": {role: pack.as_dict() for role, pack in packs.items()},
            "refused": refused,
        }

    return router


# Over 60 lines on purpose: as _context_routes, a router factory with its routes nested.
def _graph_routes(
    store: GraphStore, reader: StoryGraphReader, query_timeout_seconds: float, query_max_rows: int
) -> APIRouter:
    """Read-only views of the graph: Cypher queries, a story's summary, counts."""
    router = APIRouter()

    @router.post(
        "/graph/query",
        response_model=GraphQueryOut,
        tags=["graph"],
        summary="Run a read-only Cypher query in a read-only transaction, time- and row-limited",
        description=(
            "Refused with 400: a query that could write (checked on its text, then the store's read-only "
            "transaction refuses writes whatever the text), or one the store stops at the time limit. "
            "At most the row limit is returned; `truncated` says there were more."
        ),
        dependencies=READ_WHOLE_GRAPH,
    )
    async def graph_query(body: GraphQueryIn) -> dict[str, Any]:
        query = check_read_only(body.cypher)
        found, truncated = await store.read_limited(
            query, body.params, max_rows=query_max_rows, timeout_seconds=query_timeout_seconds
        )
        # Raw graph data leaves the service here too: secrets in it are redacted like everywhere else.
        rows: list[Any] = [redact_value(row) for row in found]
        columns = list(rows[0].keys()) if rows else []
        return {"columns": columns, "rows": rows, "row_count": len(rows), "truncated": truncated}

    @router.get(
        "/graph/stories/{story_id}",
        tags=["graph"],
        summary="A story's summary in the graph",
        dependencies=READ,
    )
    async def story_summary(story_id: str) -> Any:
        return redact_value(story_summary_of(await reader.load(story_id)))

    @router.get(
        "/graph/stats",
        tags=["graph"],
        summary="Node counts per label, relationship counts per type",
        dependencies=READ,
    )
    async def graph_stats() -> dict[str, Any]:
        queries: list[tuple[str, dict[str, Any]]] = [
            (f"MATCH (n:{label}) RETURN count(n) AS n", {}) for label in NODES
        ]
        queries += [(f"MATCH ()-[r:{rel}]->() RETURN count(r) AS n", {}) for rel in RELS]
        results = await store.read_many(queries)
        counts = [int(rows[0]["n"]) if rows else 0 for rows in results]
        nodes = dict(zip(NODES, counts[: len(NODES)], strict=True))
        relationships = dict(zip(RELS, counts[len(NODES) :], strict=True))
        return {
            "store": store.dialect,
            "version": await store.version(),
            "nodes": nodes,
            "relationships": relationships,
            "node_total": sum(nodes.values()),
            "relationship_total": sum(relationships.values()),
        }

    return router


def story_summary_of(graph: StoryGraph) -> dict[str, Any]:
    """What GET /v1/graph/stories/{id} answers: the story and how much hangs off it."""
    story = graph.story
    return {
        "story_id": story.id,
        "version": graph.version,
        "title": story.title,
        "state": story.state,
        "placeholder": story.placeholder,
        "epic_id": story.epic_id,
        "project_id": story.project_id,
        "plans": [{"id": plan.id, "status": plan.status} for plan in graph.plans],
        "approvals": sum(1 for event in graph.plan_events if event.kind == "approved"),
        "rejections": sum(1 for event in graph.plan_events if event.kind == "rejected"),
        "transitions": len(graph.transitions),
        "tasks": len(graph.tasks),
        "decisions": len(graph.decisions),
        "deliberations": len(graph.deliberations),
        "dispatches": len(graph.dispatches),
    }
