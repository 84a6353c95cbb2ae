"""The planning HTTP API (FastAPI router under /v1), mounted by the process host.

Every operation needs a bearer token (the host adds authentication to every router); reads need the
viewer role, changes the product owner's (proposing a decision: a service's too). The actor of every
change is the authenticated identity, never a name in the body.

Domain errors travel up as exceptions and the host maps them (`ERROR_STATUSES`) to a status and a
`{"detail": "..."}` body; invalid input is answered like FastAPI's own 422s, naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from swe_fleet.events.payloads import StoryState
from swe_fleet.planning.adapters.database import StoreUnavailable
from swe_fleet.planning.adapters.http_models import (
    ID_PATTERN,
    ApprovalVerdictIn,
    DecisionIn,
    DecisionOut,
    DecisionVerdictIn,
    EpicIn,
    EpicOut,
    ErrorOut,
    Name,
    PlanApprovalIn,
    PlanIn,
    PlanOut,
    PlanRejectionIn,
    ProjectIn,
    ProjectOut,
    StoryDetailOut,
    StoryIn,
    StoryOut,
    TokenBudgetIn,
    TransitionIn,
)
from swe_fleet.planning.app import approvals as aq
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app import queries as q
from swe_fleet.planning.app import use_cases as uc
from swe_fleet.planning.app.planning_app import PlanningApp
from swe_fleet.planning.app.ports import Page, StoryFilter
from swe_fleet.planning.domain.errors import (
    ActionNotAllowed,
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
)
from swe_fleet.planning.domain.model import DecisionStatus
from swe_fleet.security.api_auth import require_role
from swe_fleet.security.identity import Identity, Role

# Who may call what: the identity each operation acts as (and records as the actor of its change).
Reader = Annotated[Identity, Depends(require_role(Role.VIEWER))]
ProductOwner = Annotated[Identity, Depends(require_role(Role.PRODUCT_OWNER))]
Proposer = Annotated[Identity, Depends(require_role(Role.PRODUCT_OWNER, Role.SERVICE))]

ERROR_STATUSES: dict[type[Exception], int] = {
    NotFound: 404,
    IllegalTransition: 409,
    Conflict: 409,
    ActionNotAllowed: 409,
    InvalidInput: 422,
    StoreUnavailable: 503,
}


class PlanningRoute(APIRoute):
    """Answers a domain InvalidInput exactly like a request that failed validation (422, field named)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except InvalidInput as error:
                message = str(error).removeprefix(f"{error.field}: ")
                raise RequestValidationError(
                    [{"type": "value_error", "loc": ("body", error.field), "msg": message, "input": None}]
                ) from None

        return handle


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The body is not valid JSON",
        404: "No such id",
        409: "Not allowed now: illegal transition, stale version, already decided, or id taken",
        503: "The planning database is unavailable",
    }
    return {status: {"model": ErrorOut, "description": described[status]} for status in (*statuses, 503)}


def _links(status: int, source_param: str, **targets: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links: the id a creation returns feeds these operations (clients and fuzzers follow them)."""
    links = {
        f"{operation}_{parameter}": {
            "operationId": f"planning_{operation}",
            "parameters": {parameter: f"$response.body#/{source_param}"},
        }
        for operation, parameter in targets.items()
    }
    return {status: {"links": links}}


PathId = Annotated[str, Path(pattern=ID_PATTERN)]
# Optional query and header parameters are typed without `| None` so the document calls them optional,
# not nullable: on the wire they are absent or a string, never null (a fuzzer would send "null").
QueryId = Annotated[str, Query(pattern=ID_PATTERN)]
IF_MATCH_PATTERN = r'^(\*|(W/)?"?[1-9][0-9]{0,8}"?)$'
IfMatch = Annotated[
    str, Header(pattern=IF_MATCH_PATTERN, description='The story version you read (its ETag), e.g. "3"')
]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]


def expected_version(if_match: str | None, in_body: int | None) -> int | None:
    """The version a client based its change on: `If-Match: "3"` (an ETag) or `expected_version`."""
    header_version: int | None = None
    if if_match is not None and if_match.strip() != "*":
        tag = if_match.strip().removeprefix("W/").strip('"')
        if not tag.isdigit() or not 1 <= int(tag) < 2**31:
            message = 'expected a story version such as "3" (the ETag you read)'
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("header", "if-match"), "msg": message, "input": if_match}]
            )
        header_version = int(tag)
    if header_version is not None and in_body is not None and header_version != in_body:
        # Two preconditions that cannot both hold: the change can never apply (409, like a stale one).
        raise Conflict(
            f"If-Match says version {header_version} and expected_version says {in_body}: "
            "they cannot both be the story's version"
        )
    return header_version if header_version is not None else in_body


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def _router() -> APIRouter:
    return APIRouter(route_class=PlanningRoute, generate_unique_id_function=lambda r: f"planning_{r.name}")


def build_router(app: PlanningApp) -> APIRouter:
    """The planning API under /v1: one router per resource."""
    router = APIRouter(prefix="/v1", tags=["planning"], route_class=PlanningRoute)
    resources = (
        projects_router,
        epics_router,
        stories_router,
        plans_router,
        decisions_router,
        approvals_router,
    )
    for resource in resources:
        router.include_router(resource(app))
    return router


def projects_router(app: PlanningApp) -> APIRouter:
    router = _router()

    @router.post(
        "/projects",
        status_code=201,
        response_model=ProjectOut,
        responses={
            **_errors(400, 409),
            **_links(201, "id", get_project="project_id", list_epics="project_id"),
        },
    )
    async def create_project(body: ProjectIn, who: ProductOwner) -> ProjectOut:
        command = c.CreateProject(
            name=body.name,
            created_by=who.subject,
            description=body.description,
            project_id=body.id,
            repo=body.repo,
            base_branch=body.base_branch,
            test_command=body.test_command,
        )
        return ProjectOut.of(await app.execute(uc.create_project, command))

    @router.get("/projects", response_model=list[ProjectOut], responses=_errors())
    async def list_projects(_: Reader, limit: Limit = 100, offset: Offset = 0) -> list[ProjectOut]:
        return [ProjectOut.of(p) for p in await app.query(q.list_projects, Page(limit, offset))]

    @router.get("/projects/{project_id}", response_model=ProjectOut, responses=_errors(404))
    async def get_project(project_id: PathId, _: Reader) -> ProjectOut:
        return ProjectOut.of(await app.query(q.get_project, project_id))

    return router


def epics_router(app: PlanningApp) -> APIRouter:
    router = _router()

    @router.post(
        "/epics",
        status_code=201,
        response_model=EpicOut,
        responses={**_errors(400, 404, 409), **_links(201, "id", get_epic="epic_id", list_stories="epic_id")},
    )
    async def create_epic(body: EpicIn, who: ProductOwner) -> EpicOut:
        command = c.CreateEpic(
            project_id=body.project_id,
            title=body.title,
            created_by=who.subject,
            description=body.description,
            epic_id=body.id,
        )
        return EpicOut.of(await app.execute(uc.create_epic, command))

    @router.get("/epics", response_model=list[EpicOut], responses=_errors(404))
    async def list_epics(
        _: Reader,
        project_id: QueryId = None,  # type: ignore[assignment]
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[EpicOut]:
        return [EpicOut.of(e) for e in await app.query(q.list_epics, project_id, Page(limit, offset))]

    @router.get("/epics/{epic_id}", response_model=EpicOut, responses=_errors(404))
    async def get_epic(epic_id: PathId, _: Reader) -> EpicOut:
        return EpicOut.of(await app.query(q.get_epic, epic_id))

    return router


# Over 60 lines on purpose: one router per resource, its nested functions the routes (each a few
# lines of request -> command -> answer); the route decorators carry the OpenAPI text.
def stories_router(app: PlanningApp) -> APIRouter:
    router = _router()

    @router.post(
        "/stories",
        status_code=201,
        response_model=StoryOut,
        responses={
            **_errors(400, 404, 409),
            **_links(
                201,
                "id",
                get_story="story_id",
                transition_story="story_id",
                create_plan="story_id",
                list_plans="story_id",
            ),
        },
    )
    async def create_story(body: StoryIn, response: Response, who: ProductOwner) -> StoryOut:
        command = c.CreateStory(
            title=body.title,
            owner=body.owner or who.subject,
            created_by=who.subject,
            epic_id=body.epic_id,
            brief=body.brief,
            acceptance_criteria=tuple(body.acceptance_criteria),
            story_id=body.id,
        )
        story = await app.execute(uc.create_story, command)
        _etag(response, story.version)
        return StoryOut.of(story)

    @router.get("/stories", response_model=list[StoryOut], responses=_errors())
    async def list_stories(
        _: Reader,
        project_id: QueryId = None,  # type: ignore[assignment]
        epic_id: QueryId = None,  # type: ignore[assignment]
        state: Annotated[StoryState, Query()] = None,  # type: ignore[assignment]
        owner: Annotated[Name, Query()] = None,  # type: ignore[assignment]
        limit: Limit = 100,
        offset: Offset = 0,
        include_probes: Annotated[bool, Query(description="Include `fleet verify` probe stories")] = False,
    ) -> list[StoryOut]:
        where = StoryFilter(
            project_id=project_id, epic_id=epic_id, state=state, owner=owner, include_probes=include_probes
        )
        return [StoryOut.of(s) for s in await app.query(q.list_stories, where, Page(limit, offset))]

    @router.get("/stories/{story_id}", response_model=StoryDetailOut, responses=_errors(404))
    async def get_story(story_id: PathId, response: Response, _: Reader) -> StoryDetailOut:
        view = await app.query(q.get_story, story_id)
        _etag(response, view.story.version)
        return StoryDetailOut.of_view(view)

    @router.post(
        "/stories/{story_id}/transitions",
        response_model=StoryOut,
        responses=_errors(400, 404, 409),
        summary="Move a story to another lifecycle state",
    )
    async def transition_story(
        story_id: PathId,
        body: TransitionIn,
        response: Response,
        who: ProductOwner,
        if_match: IfMatch = None,  # type: ignore[assignment]
    ) -> StoryOut:
        command = c.TransitionStory(
            story_id=story_id,
            to_state=body.to_state,
            by=who.subject,
            reason=body.reason,
            expected_version=expected_version(if_match, body.expected_version),
        )
        story = await app.execute(uc.transition_story, command)
        _etag(response, story.version)
        return StoryOut.of(story)

    @router.put(
        "/stories/{story_id}/token-budget",
        response_model=StoryOut,
        responses=_errors(400, 404, 409),
        summary="Set the tokens a story's agents may spend (councils waiting on the budget then start)",
    )
    async def set_token_budget(
        story_id: PathId, body: TokenBudgetIn, response: Response, who: ProductOwner
    ) -> StoryOut:
        command = c.SetStoryTokenBudget(story_id=story_id, token_budget=body.token_budget, by=who.subject)
        story = await app.execute(uc.set_story_token_budget, command)
        _etag(response, story.version)
        return StoryOut.of(story)

    return router


def plans_router(app: PlanningApp) -> APIRouter:
    router = _router()

    @router.post(
        "/stories/{story_id}/plans",
        status_code=201,
        response_model=PlanOut,
        responses={
            **_errors(400, 404, 409),
            **_links(201, "id", get_plan="plan_id", approve_plan="plan_id", reject_plan="plan_id"),
        },
    )
    async def create_plan(story_id: PathId, body: PlanIn, who: ProductOwner) -> PlanOut:
        command = c.CreatePlan(
            story_id=story_id,
            description=body.description,
            acceptance_criteria=tuple(body.acceptance_criteria),
            created_by=who.subject,
            technical_notes=body.technical_notes,
            roles=tuple(body.roles),
            plan_id=body.id,
        )
        return PlanOut.of(await app.execute(uc.create_plan, command))

    @router.get("/stories/{story_id}/plans", response_model=list[PlanOut], responses=_errors(404))
    async def list_plans(story_id: PathId, _: Reader) -> list[PlanOut]:
        return [PlanOut.of(p) for p in await app.query(q.list_plans, story_id)]

    @router.get("/plans/{plan_id}", response_model=PlanOut, responses=_errors(404))
    async def get_plan(plan_id: PathId, _: Reader) -> PlanOut:
        return PlanOut.of(await app.query(q.get_plan, plan_id))

    @router.post("/plans/{plan_id}/approve", response_model=PlanOut, responses=_errors(400, 404, 409))
    async def approve_plan(plan_id: PathId, body: PlanApprovalIn, who: ProductOwner) -> PlanOut:
        command = c.ApprovePlan(plan_id=plan_id, by=who.subject, notes=body.notes)
        return PlanOut.of(await app.execute(uc.approve_plan, command))

    @router.post("/plans/{plan_id}/reject", response_model=PlanOut, responses=_errors(400, 404, 409))
    async def reject_plan(plan_id: PathId, body: PlanRejectionIn, who: ProductOwner) -> PlanOut:
        command = c.RejectPlan(plan_id=plan_id, by=who.subject, reason=body.reason)
        return PlanOut.of(await app.execute(uc.reject_plan, command))

    return router


# Over 60 lines on purpose: as stories_router, one router per resource.
def decisions_router(app: PlanningApp) -> APIRouter:
    router = _router()

    @router.post(
        "/decisions",
        status_code=201,
        response_model=DecisionOut,
        responses={
            **_errors(400, 404, 409),
            **_links(
                201,
                "id",
                get_decision="decision_id",
                approve_decision="decision_id",
                reject_decision="decision_id",
            ),
        },
    )
    async def propose_decision(body: DecisionIn, who: Proposer) -> DecisionOut:
        command = c.ProposeDecision(
            story_id=body.story_id,
            title=body.title,
            proposed_by=who.subject,
            description=body.description,
            task_id=body.task_id,
            affects=tuple(body.affects),
            decision_id=body.id,
        )
        return DecisionOut.of(await app.execute(uc.propose_decision, command))

    @router.get("/decisions", response_model=list[DecisionOut], responses=_errors())
    async def list_decisions(
        _: Reader,
        story_id: QueryId = None,  # type: ignore[assignment]
        status: Annotated[DecisionStatus, Query()] = None,  # type: ignore[assignment]
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[DecisionOut]:
        found = await app.query(q.list_decisions, story_id, status, Page(limit, offset))
        return [DecisionOut.of(d) for d in found]

    @router.get("/decisions/{decision_id}", response_model=DecisionOut, responses=_errors(404))
    async def get_decision(decision_id: PathId, _: Reader) -> DecisionOut:
        return DecisionOut.of(await app.query(q.get_decision, decision_id))

    @router.post(
        "/decisions/{decision_id}/approve", response_model=DecisionOut, responses=_errors(400, 404, 409)
    )
    async def approve_decision(
        decision_id: PathId, body: DecisionVerdictIn, who: ProductOwner
    ) -> DecisionOut:
        command = c.ApproveDecision(decision_id=decision_id, by=who.subject, rationale=body.rationale)
        return DecisionOut.of(await app.execute(uc.approve_decision, command))

    @router.post(
        "/decisions/{decision_id}/reject", response_model=DecisionOut, responses=_errors(400, 404, 409)
    )
    async def reject_decision(decision_id: PathId, body: DecisionVerdictIn, who: ProductOwner) -> DecisionOut:
        command = c.RejectDecision(decision_id=decision_id, by=who.subject, rationale=body.rationale)
        return DecisionOut.of(await app.execute(uc.reject_decision, command))

    return router


def approvals_router(app: PlanningApp) -> APIRouter:
    """Approvals (ADR 0612): decisions a workspace asked for, a task waiting on each; the PO decides."""
    router = _router()

    @router.get("/approvals", response_model=list[DecisionOut], responses=_errors())
    async def list_approvals(
        _: Reader,
        status: Annotated[DecisionStatus, Query()] = None,  # type: ignore[assignment]
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[DecisionOut]:
        return [DecisionOut.of(d) for d in await app.query(aq.list_approvals, status, Page(limit, offset))]

    @router.post(
        "/approvals/{approval_id}/approve", response_model=DecisionOut, responses=_errors(400, 404, 409)
    )
    async def approve_approval(
        approval_id: PathId, body: ApprovalVerdictIn, who: ProductOwner
    ) -> DecisionOut:
        await app.query(aq.get_approval, approval_id)
        command = c.ApproveDecision(decision_id=approval_id, by=who.subject, rationale=body.reason)
        return DecisionOut.of(await app.execute(uc.approve_decision, command))

    @router.post(
        "/approvals/{approval_id}/refuse", response_model=DecisionOut, responses=_errors(400, 404, 409)
    )
    async def refuse_approval(approval_id: PathId, body: ApprovalVerdictIn, who: ProductOwner) -> DecisionOut:
        await app.query(aq.get_approval, approval_id)
        command = c.RejectDecision(decision_id=approval_id, by=who.subject, rationale=body.reason)
        return DecisionOut.of(await app.execute(uc.reject_decision, command))

    return router
