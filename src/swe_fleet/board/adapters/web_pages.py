"""The board's pages for stories: sign-in, the board of columns, a story with its plans and councils."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from swe_fleet.board.adapters.sessions import SESSION_COOKIE, csrf_matches, signed_in
from swe_fleet.board.adapters.web_common import (
    PRESESSION_COOKIE,
    STATIC,
    BoardContext,
    CsrfRefused,
    check_csrf,
    new_presession,
    refusal_message,
    render,
    require_change,
    secured,
    see_other,
    set_session,
)
from swe_fleet.board.app.ports import Refused
from swe_fleet.board.domain import councils, graph_picture, lanes
from swe_fleet.board.domain.identity import Identity, NotAllowed, NotSignedIn
from swe_fleet.events.payloads import StoryState

ASSETS = {
    "board.css": "text/css",
    "board.js": "text/javascript",
    "graph.js": "text/javascript",
    "vendor/htmx.min.js": "text/javascript",
    "vendor/cytoscape.min.js": "text/javascript",
}


def board_route(board: BoardContext) -> type[APIRoute]:
    class BoardRoute(APIRoute):
        """Answers the board's own refusals as pages: sign in first, viewers may not change, CSRF."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except NotSignedIn:
                    return see_other("/sign-in")
                except NotAllowed as error:
                    return render(board, request, "refused.html", None, 403, message=str(error))
                except CsrfRefused:
                    message = "This form is out of date or did not come from the board: reload and try again."
                    return render(board, request, "refused.html", None, 403, message=message)

            return handle

    return BoardRoute


# Over 60 lines on purpose: a router factory whose nested functions are the board's pages, one short
# route each, sharing `board` and `me` by closure (the layout FastAPI's own examples use).
def build_pages(board: BoardContext) -> APIRouter:
    router = APIRouter(route_class=board_route(board), include_in_schema=False)

    async def me(request: Request) -> Identity:
        return await signed_in(request, board.authenticator)

    # ---------------------------------------------------------------- assets

    @router.get("/static/{name:path}")
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return secured(Response("no such asset", status_code=404, media_type="text/plain"))
        path = STATIC / name
        if not path.exists():
            missing = f"{name} was not vendored: run `make install` (it runs npm ci in web/)"
            return secured(Response(missing, status_code=404, media_type="text/plain"))
        response = Response(path.read_bytes(), media_type=ASSETS[name])
        response.headers["Cache-Control"] = "public, max-age=3600"
        return secured(response)

    # ---------------------------------------------------------------- sign-in

    @router.get("/sign-in")
    async def sign_in_page(request: Request) -> Response:
        presession = request.cookies.get(PRESESSION_COOKIE) or new_presession()
        response = render(board, request, "sign_in.html", None, errors={}, presession=presession)
        secure = request.url.scheme == "https"
        response.set_cookie(
            PRESESSION_COOKIE, presession, httponly=True, samesite="strict", path="/", secure=secure
        )
        return response

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        form = await request.form()
        presession = request.cookies.get(PRESESSION_COOKIE, "")
        if not presession or not csrf_matches(presession, str(form.get("csrf_token") or "")):
            raise CsrfRefused()
        token = str(form.get("token") or "").strip()
        identity = await board.authenticator.identify(token) if token else None
        if identity is None:
            message = (
                "enter your access token" if not token else "this token is not valid (unknown or expired)"
            )
            return render(board, request, "sign_in.html", None, 401, errors={"token": message})
        response = see_other("/")
        set_session(response, token, secure=request.url.scheme == "https")
        response.delete_cookie(PRESESSION_COOKIE, path="/")
        return response

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        who = await me(request)
        await check_csrf(request, who.token)
        response = see_other("/sign-in")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ---------------------------------------------------------------- the board

    async def board_page(
        request: Request,
        who: Identity,
        *,
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        entered: dict[str, str] | None = None,
        notice: str = "",
    ) -> Response:
        project_id = request.query_params.get("project") or None
        epic_id = request.query_params.get("epic") or None
        try:
            projects, epics, stories = await asyncio.gather(
                board.api.projects(who),
                board.api.epics(who, project_id),
                board.api.stories(who, project_id=project_id, epic_id=epic_id),
            )
        except Refused as error:
            return render(board, request, "refused.html", who, error.status, message=refusal_message(error))
        columns = lanes.columns(stories)
        return render(
            board,
            request,
            "board.html",
            who,
            status_code,
            columns=columns,
            total=lanes.count(columns),
            projects=projects,
            epics=epics,
            project_id=project_id or "",
            epic_id=epic_id or "",
            errors=errors or {},
            entered=entered or {},
            notice=notice or request.query_params.get("notice", ""),
        )

    @router.get("/")
    async def board_view(request: Request) -> Response:
        return await board_page(request, await me(request))

    @router.post("/stories")
    async def create_story(request: Request) -> Response:
        who = await me(request)
        form = await check_csrf(request, who.token)
        require_change(who, "create a story")
        entered = {
            key: str(form.get(key) or "") for key in ("title", "brief", "acceptance_criteria", "epic_id")
        }
        errors: dict[str, str] = {}
        if not entered["title"].strip():
            errors["title"] = "A story needs a title."
        elif len(entered["title"]) > 500:
            errors["title"] = "A title is at most 500 characters."
        if not errors:
            body: dict[str, Any] = {
                "title": entered["title"].strip(),
                "brief": entered["brief"],
                "acceptance_criteria": lanes.criteria_lines(entered["acceptance_criteria"]),
            }
            if entered["epic_id"]:
                body["epic_id"] = entered["epic_id"]
            try:
                story = await board.api.create_story(who, body)
            except Refused as error:
                errors = dict(error.fields) or {"form": refusal_message(error)}
            else:
                return see_other(f"/stories/{story['id']}?notice=Story+created")
        return await board_page(request, who, status_code=422, errors=errors, entered=entered)

    @router.get("/stories/{story_id}/move-form")
    async def move_form(story_id: str, request: Request) -> Response:
        """A card's move form, with only the states the lifecycle allows from where the story is now."""
        who = await me(request)
        require_change(who, "move a story")
        try:
            story = await board.api.story(who, story_id)
        except Refused as error:
            message = refusal_message(error)
            return render(board, request, "refused.html", who, error.status, message=message)
        return render(board, request, "_move_form.html", who, story=story)

    @router.post("/stories/{story_id}/move")
    async def move_story(story_id: str, request: Request) -> Response:
        who = await me(request)
        form = await check_csrf(request, who.token)
        require_change(who, "move a story")
        to_state = str(form.get("to_state") or "")
        version = str(form.get("version") or "")
        reason = str(form.get("reason") or "").strip() or None
        back = str(form.get("back") or "/")
        back = back if back.startswith("/") and not back.startswith("//") else "/"
        if to_state not in {state.value for state in StoryState} or not version.isdigit():
            message = "Choose one of the states the story may move to."
            return await _move_refused(request, who, story_id, back, 422, message)
        try:
            await board.api.transition(who, story_id, to_state, int(version), reason)
        except Refused as error:
            return await _move_refused(request, who, story_id, back, error.status, refusal_message(error))
        return see_other(_with_notice(back, f"Moved to {lanes.label(to_state)}"))

    async def _move_refused(
        request: Request, who: Identity, story_id: str, back: str, status: int, message: str
    ) -> Response:
        if back.startswith("/stories/"):
            return await story_page(request, who, story_id, status_code=status, move_error=message)
        return await board_page(request, who, status_code=status, errors={f"move-{story_id}": message})

    # ---------------------------------------------------------------- a story

    async def story_page(
        request: Request,
        who: Identity,
        story_id: str,
        *,
        status_code: int = 200,
        move_error: str = "",
        errors: dict[str, str] | None = None,
        entered: dict[str, str] | None = None,
    ) -> Response:
        try:
            story, decisions, delivery, usage = await asyncio.gather(
                board.api.story(who, story_id),
                board.api.decisions(who, story_id=story_id, status=None),
                board.api.delivery(who, story_id),
                board.api.usage(who, story_id),
            )
        except Refused as error:
            return render(board, request, "refused.html", who, error.status, message=refusal_message(error))
        council_views, council_error = await _councils(who, story_id)
        return render(
            board,
            request,
            "story.html",
            who,
            status_code,
            story=story,
            decisions=decisions,
            delivery=delivery,
            usage=usage,
            councils=council_views,
            council_error=council_error,
            move_error=move_error,
            errors=errors or {},
            entered=entered or {},
            notice=request.query_params.get("notice", ""),
            reviewable=story["state"] == StoryState.READY_TO_REVIEW,
        )

    async def _councils(who: Identity, story_id: str) -> tuple[list[councils.TaskView], str]:
        try:
            rows = {
                name: await board.api.graph(who, query, {"story": story_id})
                for name, query in councils.QUERIES.items()
            }
        except Refused as error:
            if error.status == 403:  # the API lets only product owners and services read the graph
                why = "Tasks and councils come from the decision graph, which your role may not read"
                return [], f"{why}: {error.detail}"
            return [], f"The decision graph cannot be read now: {error.detail}"
        return councils.assemble(rows), ""

    @router.get("/stories/{story_id}")
    async def story_view(story_id: str, request: Request) -> Response:
        return await story_page(request, await me(request), story_id)

    @router.get("/stories/{story_id}/councils")
    async def councils_fragment(story_id: str, request: Request) -> Response:
        who = await me(request)
        views, error = await _councils(who, story_id)
        return render(board, request, "_councils.html", who, councils=views, council_error=error)

    @router.post("/stories/{story_id}/plans")
    async def propose_plan(story_id: str, request: Request) -> Response:
        who = await me(request)
        form = await check_csrf(request, who.token)
        require_change(who, "propose a plan")
        entered = {
            key: str(form.get(key) or "") for key in ("description", "plan_criteria", "technical_notes")
        }
        roles = [str(role) for role in form.getlist("roles")] if hasattr(form, "getlist") else []
        errors: dict[str, str] = {}
        if not entered["description"].strip():
            errors["description"] = "A plan needs a description."
        criteria = lanes.criteria_lines(entered["plan_criteria"])
        if not criteria:
            errors["plan_criteria"] = "Give at least one acceptance criterion, one per line."
        if not errors:
            body = {
                "description": entered["description"].strip(),
                "acceptance_criteria": criteria,
                "technical_notes": entered["technical_notes"],
                "roles": roles,
            }
            try:
                await board.api.propose_plan(who, story_id, body)
            except Refused as error:
                renamed = {"acceptance_criteria": "plan_criteria"}
                errors = {renamed.get(k, k): v for k, v in error.fields.items()} or {
                    "plan": refusal_message(error)
                }
            else:
                return see_other(f"/stories/{story_id}?notice=Plan+proposed")
        return await story_page(request, who, story_id, status_code=422, errors=errors, entered=entered)

    @router.post("/stories/{story_id}/plans/{plan_id}/verdict")
    async def plan_verdict(story_id: str, plan_id: str, request: Request) -> Response:
        who = await me(request)
        form = await check_csrf(request, who.token)
        require_change(who, "approve or reject a plan")
        verdict = str(form.get("verdict") or "")
        note = str(form.get("note") or "").strip()
        field = f"plan-{plan_id}"
        if verdict == "reject" and not note:
            return await story_page(
                request, who, story_id, status_code=422, errors={field: "Say why the plan is rejected."}
            )
        try:
            if verdict == "approve":
                await board.api.approve_plan(who, plan_id, note)
            elif verdict == "reject":
                await board.api.reject_plan(who, plan_id, note)
            else:
                return await story_page(
                    request, who, story_id, status_code=422, errors={field: "Choose approve or reject."}
                )
        except Refused as error:
            return await story_page(
                request, who, story_id, status_code=error.status, errors={field: refusal_message(error)}
            )
        done = "approved" if verdict == "approve" else "rejected"
        return see_other(f"/stories/{story_id}?notice=Plan+{done}")

    @router.post("/stories/{story_id}/review")
    async def review(story_id: str, request: Request) -> Response:
        """At READY_TO_REVIEW: accept the story, or send it back to IN_PROGRESS with a reason."""
        who = await me(request)
        form = await check_csrf(request, who.token)
        require_change(who, "accept or send back a story")
        verdict = str(form.get("verdict") or "")
        reason = str(form.get("reason") or "").strip()
        version = str(form.get("version") or "")
        if verdict == "send_back" and not reason:
            errors = {"review": "Say what must change before the story can be accepted."}
            return await story_page(request, who, story_id, status_code=422, errors=errors)
        target = {"accept": StoryState.ACCEPTED, "send_back": StoryState.IN_PROGRESS}.get(verdict)
        if target is None or not version.isdigit():
            errors = {"review": "Choose accept or send back."}
            return await story_page(request, who, story_id, status_code=422, errors=errors)
        try:
            await board.api.review(who, story_id, verdict, reason, int(version))
        except Refused as error:
            errors = {"review": refusal_message(error)}
            return await story_page(request, who, story_id, status_code=error.status, errors=errors)
        notice = "Story+accepted" if target is StoryState.ACCEPTED else "Story+sent+back"
        return see_other(f"/stories/{story_id}?notice={notice}")

    return router


def _with_notice(url: str, notice: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}notice={quote_plus(notice)}"


def build_graph_pages(board: BoardContext) -> APIRouter:
    """A story's decision graph as a picture (cytoscape.js), with the same nodes as a list beside it."""
    router = APIRouter(route_class=board_route(board), include_in_schema=False)

    async def picture(who: Identity, story_id: str, story_title: str) -> graph_picture.Picture:
        drawn = graph_picture.Picture()
        drawn.add_node(story_id, graph_picture.L.STORY, story_title)
        frontier: dict[str, list[str]] = {graph_picture.L.STORY: [story_id]}
        for _ in range(graph_picture.DEPTH):
            hops = graph_picture.hops_from(frontier)
            if not hops:
                break
            rows = await board.api.graph(
                who, graph_picture.level_query(hops), graph_picture.level_params(frontier)
            )
            next_frontier: dict[str, list[str]] = {}
            for index, hop in enumerate(hops):
                answered = [row for row in rows if row.get("hop") == index]
                for label, ids in drawn.add_rows(hop, answered).items():
                    next_frontier.setdefault(label, []).extend(ids)
            if not next_frontier:
                break
            frontier = next_frontier
        return drawn

    @router.get("/stories/{story_id}/graph")
    async def graph_page(story_id: str, request: Request) -> Response:
        who = await signed_in(request, board.authenticator)
        try:
            story = await board.api.story(who, story_id)
            drawn = await picture(who, story_id, story["title"])
        except Refused as error:
            return render(board, request, "refused.html", who, error.status, message=refusal_message(error))
        return render(board, request, "graph.html", who, story=story, picture=drawn)

    @router.get("/stories/{story_id}/graph.json")
    async def graph_json(story_id: str, request: Request) -> Response:
        who = await signed_in(request, board.authenticator)
        try:
            story = await board.api.story(who, story_id)
            drawn = await picture(who, story_id, story["title"])
        except Refused as error:
            return secured(JSONResponse({"detail": error.detail}, status_code=error.status))
        return secured(JSONResponse({"elements": drawn.elements(), "truncated": drawn.truncated}))

    return router
