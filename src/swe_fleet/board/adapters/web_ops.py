"""The board's pages for the whole fleet: decisions awaiting a verdict, live activity, fleet health."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from swe_fleet.board.adapters.sessions import signed_in
from swe_fleet.board.adapters.web_common import (
    BoardContext,
    check_csrf,
    refusal_message,
    render,
    require_change,
    secured,
    see_other,
)
from swe_fleet.board.adapters.web_pages import board_route
from swe_fleet.board.app.ports import Refused
from swe_fleet.board.domain import activity
from swe_fleet.board.domain.identity import Identity

HEARTBEAT_SECONDS = 10.0


# Over 60 lines on purpose: a router factory; each nested function is one short route (health, dead
# letters, the live feed) sharing `board` and `closing` by closure.
def build_operations(board: BoardContext, closing: asyncio.Event) -> APIRouter:
    router = APIRouter(route_class=board_route(board), include_in_schema=False)

    async def me(request: Request) -> Identity:
        return await signed_in(request, board.authenticator)

    # ---------------------------------------------------------------- decisions

    async def decisions_page(
        request: Request, who: Identity, *, status_code: int = 200, errors: dict[str, str] | None = None
    ) -> Response:
        try:
            pending = await board.api.decisions(who, story_id=None, status="PROPOSED")
            decided = [
                d
                for d in await board.api.decisions(who, story_id=None, status=None)
                if d["status"] != "PROPOSED"
            ]
        except Refused as error:
            return render(board, request, "refused.html", who, error.status, message=refusal_message(error))
        return render(
            board,
            request,
            "decisions.html",
            who,
            status_code,
            pending=pending,
            decided=decided[-50:],
            errors=errors or {},
            notice=request.query_params.get("notice", ""),
        )

    @router.get("/decisions")
    async def decisions(request: Request) -> Response:
        return await decisions_page(request, await me(request))

    @router.post("/decisions/{decision_id}/verdict")
    async def decide(decision_id: str, request: Request) -> Response:
        who = await me(request)
        form = await check_csrf(request, who.token)
        require_change(who, "approve or reject a decision")
        verdict = str(form.get("verdict") or "")
        rationale = str(form.get("rationale") or "").strip()
        field = f"decision-{decision_id}"
        if verdict not in ("approve", "reject"):
            return await decisions_page(
                request, who, status_code=422, errors={field: "Choose approve or reject."}
            )
        if not rationale:
            errors = {field: "Give the rationale for your verdict."}
            return await decisions_page(request, who, status_code=422, errors=errors)
        try:
            await board.api.decide(who, decision_id, verdict, rationale)
        except Refused as error:
            return await decisions_page(
                request, who, status_code=error.status, errors={field: refusal_message(error)}
            )
        done = "approved" if verdict == "approve" else "rejected"
        return see_other(f"/decisions?notice=Decision+{done}")

    # ---------------------------------------------------------------- live activity

    @router.get("/activity")
    async def activity_page(request: Request) -> Response:
        return render(board, request, "activity.html", await me(request))

    @router.get("/activity/stream")
    async def activity_stream(request: Request) -> Response:
        await me(request)
        story = request.query_params.get("story") or None
        return secured(
            StreamingResponse(
                _events(request, story),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            )
        )

    async def _events(request: Request, story: str | None) -> AsyncIterator[str]:
        progress = activity.CouncilProgress()
        queue: asyncio.Queue[dict | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for item in board.backbone.live(activity.LIVE_SUBJECTS):
                    await queue.put(item)
            finally:
                await queue.put(None)

        pumping = asyncio.create_task(pump())
        closed = asyncio.create_task(closing.wait())
        try:
            yield ": connected\n\n"
            while not closing.is_set():
                getting = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait(
                    {getting, closed}, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if getting not in done:
                    getting.cancel()
                    if closing.is_set() or await request.is_disconnected():
                        return
                    yield ": heartbeat\n\n"
                    continue
                item = getting.result()
                if item is None:
                    return
                shown = activity.line(item["subject"], item["envelope"], progress)
                if story and story not in shown.story_ids:
                    continue
                yield f"event: fleet\ndata: {json.dumps(shown.as_dict())}\n\n"
        finally:
            pumping.cancel()
            closed.cancel()
            with contextlib.suppress(BaseException):
                await pumping

    # ---------------------------------------------------------------- health

    async def health_page(
        request: Request, who: Identity, *, status_code: int = 200, errors: dict[str, str] | None = None
    ) -> Response:
        problems: list[str] = []
        verify_rows: list[dict] = []
        consumers: list[dict] = []
        letters: list[dict] = []
        try:
            verify_rows = await board.backbone.verify_table()
        except Exception as error:  # the table is best effort: the rest of the page still shows
            problems.append(f"fleet verify could not run: {type(error).__name__}: {error}")
        try:
            consumers = await board.backbone.consumers()
            letters = await board.backbone.dead_letters(limit=200)
        except Exception as error:
            problems.append(f"the backbone cannot be read: {type(error).__name__}: {error}")
        return render(
            board,
            request,
            "health.html",
            who,
            status_code,
            verify_rows=verify_rows,
            consumers=consumers,
            letters=letters,
            problems=problems,
            errors=errors or {},
            notice=request.query_params.get("notice", ""),
        )

    @router.get("/health")
    async def health(request: Request) -> Response:
        return await health_page(request, await me(request))

    @router.post("/health/dead-letters/{seq}")
    async def dead_letter_action(seq: int, request: Request) -> Response:
        who = await me(request)
        form = await check_csrf(request, who.token)
        require_change(who, "replay or discard a dead letter")
        action = str(form.get("action") or "")
        reason = str(form.get("reason") or "").strip()
        field = f"letter-{seq}"
        try:
            if action == "replay":
                await board.backbone.replay(seq, who)
                notice = f"Dead+letter+{seq}+replayed"
            elif action == "discard":
                if not reason:
                    errors = {field: "Say why the message is discarded."}
                    return await health_page(request, who, status_code=422, errors=errors)
                await board.backbone.discard(seq, who, reason)
                notice = f"Dead+letter+{seq}+discarded"
            else:
                return await health_page(
                    request, who, status_code=422, errors={field: "Choose replay or discard."}
                )
        except Refused as error:
            return await health_page(request, who, status_code=error.status, errors={field: error.detail})
        return see_other(f"/health?notice={notice}")

    return router
