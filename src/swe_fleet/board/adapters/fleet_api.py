"""The board's client of the fleet's HTTP API (planning and context), as the signed-in person.

The person's bearer token travels with every call: the API checks it, takes the actor of every change
from it, and applies its own role rules, so the board can show but never widen what a person may do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from swe_fleet.board.app.ports import Json, Refused
from swe_fleet.board.domain.identity import Identity
from swe_fleet.retrying import Backoff

PAGE = 1000  # the API's largest page
# One page view asks the API several questions at once (a council refresh, a graph walk), all under
# the person's rate limit: a 429 is waited out briefly, as its Retry-After asks, before the person
# is shown a refusal (the rate check comes before any change, so a retried change happens once).
RATE_LIMITED = Backoff(first=0.5, maximum=2.0, attempts=5)


class HttpFleetApi:
    def __init__(self, planning_url: str, context_url: str) -> None:
        self._planning = planning_url.rstrip("/")
        self._context = context_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=30.0)

    async def close(self) -> None:
        await self._http.aclose()

    async def missing_operations(self) -> list[str]:
        """The API operations the board needs that its configured URLs do not serve (empty: all there).

        `fleet serve board` alone must be pointed at the fleet's API (FLEET_API_URL, or FLEET_PLANNING_URL
        and FLEET_CONTEXT_URL): by default it would look for the API on its own port.
        """
        needed = [(self._planning, ("/v1/stories", "/v1/decisions")), (self._context, ("/v1/graph/query",))]
        missing = []
        for base, paths in needed:
            try:
                answer = await self._http.get(f"{base}/openapi.json", timeout=5.0)
                served = set(answer.json().get("paths", {})) if answer.status_code == 200 else set()
            except (httpx.HTTPError, ValueError):
                served = set()
            missing += [f"{base}{path}" for path in paths if path not in served]
        return missing

    async def _call(self, who: Identity, method: str, url: str, **kwargs: Any) -> Any:
        async for attempt in RATE_LIMITED.retrying(_rate_limited):
            with attempt:
                return await self._call_once(who, method, url, **kwargs)
        raise AssertionError("unreachable: the last attempt's refusal is raised")

    async def _call_once(self, who: Identity, method: str, url: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if who.token:
            headers["Authorization"] = f"Bearer {who.token}"
        try:
            response = await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise Refused(
                503, f"the fleet's API at {url} cannot be reached: {type(error).__name__}"
            ) from None
        if response.status_code >= 400:
            raise _refusal(response)
        return response.json()

    # ------------------------------------------------------------------ planning

    async def projects(self, who: Identity) -> list[Json]:
        return await self._call(who, "GET", f"{self._planning}/v1/projects", params={"limit": PAGE})

    async def epics(self, who: Identity, project_id: str | None) -> list[Json]:
        params: dict[str, Any] = {"limit": PAGE}
        if project_id:
            params["project_id"] = project_id
        return await self._call(who, "GET", f"{self._planning}/v1/epics", params=params)

    async def stories(self, who: Identity, *, project_id: str | None, epic_id: str | None) -> list[Json]:
        params: dict[str, Any] = {"limit": PAGE}
        if project_id:
            params["project_id"] = project_id
        if epic_id:
            params["epic_id"] = epic_id
        found: list[Json] = []
        offset = 0
        while True:
            page = await self._call(
                who, "GET", f"{self._planning}/v1/stories", params={**params, "offset": offset}
            )
            found.extend(page)
            if len(page) < PAGE:
                return found
            offset += PAGE

    async def story(self, who: Identity, story_id: str) -> Json:
        return await self._call(who, "GET", f"{self._planning}/v1/stories/{story_id}")

    async def create_story(self, who: Identity, body: Json) -> Json:
        return await self._call(who, "POST", f"{self._planning}/v1/stories", json=body)

    async def transition(
        self, who: Identity, story_id: str, to_state: str, version: int, reason: str | None
    ) -> Json:
        body: Json = {"to_state": to_state}
        if reason:
            body["reason"] = reason
        return await self._call(
            who,
            "POST",
            f"{self._planning}/v1/stories/{story_id}/transitions",
            json=body,
            headers={"If-Match": f'"{version}"'},
        )

    async def delivery(self, who: Identity, story_id: str) -> Json | None:
        try:
            return await self._call(who, "GET", f"{self._planning}/v1/stories/{story_id}/delivery")
        except Refused as error:
            if error.status == 404:  # no delivery yet, or an API without delivery
                return None
            raise

    async def review(self, who: Identity, story_id: str, verdict: str, text: str, version: int) -> Json:
        """The delivery API's accept (merge) / send-back; a plain transition where the API has neither."""
        path, body = ("accept", {"note": text}) if verdict == "accept" else ("send-back", {"reason": text})
        try:
            return await self._call(who, "POST", f"{self._planning}/v1/stories/{story_id}/{path}", json=body)
        except Refused as error:
            if not (error.status in (404, 405) and error.detail in ("Not Found", "Method Not Allowed")):
                raise
        target = "ACCEPTED" if verdict == "accept" else "IN_PROGRESS"
        return await self.transition(who, story_id, target, version, text or None)

    async def propose_plan(self, who: Identity, story_id: str, body: Json) -> Json:
        url = f"{self._planning}/v1/stories/{story_id}/plans"
        return await self._call(who, "POST", url, json=body)

    async def approve_plan(self, who: Identity, plan_id: str, notes: str) -> Json:
        url = f"{self._planning}/v1/plans/{plan_id}/approve"
        return await self._call(who, "POST", url, json={"notes": notes})

    async def reject_plan(self, who: Identity, plan_id: str, reason: str) -> Json:
        url = f"{self._planning}/v1/plans/{plan_id}/reject"
        return await self._call(who, "POST", url, json={"reason": reason})

    async def decisions(self, who: Identity, *, story_id: str | None, status: str | None) -> list[Json]:
        params: dict[str, Any] = {"limit": PAGE}
        if story_id:
            params["story_id"] = story_id
        if status:
            params["status"] = status
        return await self._call(who, "GET", f"{self._planning}/v1/decisions", params=params)

    async def decide(self, who: Identity, decision_id: str, verdict: str, rationale: str) -> Json:
        if verdict not in ("approve", "reject"):
            raise Refused(422, "the verdict is approve or reject", {"verdict": "choose approve or reject"})
        url = f"{self._planning}/v1/decisions/{decision_id}/{verdict}"
        return await self._call(who, "POST", url, json={"rationale": rationale})

    # ------------------------------------------------------------------ context

    async def graph(self, who: Identity, cypher: str, params: Mapping[str, Any]) -> list[Json]:
        url = f"{self._context}/v1/graph/query"
        answer = await self._call(who, "POST", url, json={"cypher": cypher, "params": dict(params)})
        return list(answer["rows"])

    async def usage(self, who: Identity, story_id: str) -> Json | None:
        try:
            return await self._call(who, "GET", f"{self._context}/v1/context/stories/{story_id}/usage")
        except Refused:  # the page shows the rest; the tokens section says they are unknown
            return None


def _rate_limited(error: BaseException) -> bool:
    return isinstance(error, Refused) and error.status == 429


def _refusal(response: httpx.Response) -> Refused:
    try:
        body = response.json()
    except ValueError:
        return Refused(response.status_code, response.text[:300] or response.reason_phrase)
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's validation errors: one reason per field
        fields: dict[str, str] = {}
        for error in detail:
            location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
            fields[location[0] if location else "form"] = str(error.get("msg", "invalid"))
        summary = "; ".join(f"{name}: {message}" for name, message in fields.items())
        return Refused(response.status_code, f"invalid input: {summary}", fields)
    return Refused(response.status_code, str(detail or response.reason_phrase))
