"""The story's facts from Planning's HTTP API."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from swe_fleet.errors import TransientError
from swe_fleet.review.domain.review import StoryFacts


class HttpStories:
    def __init__(
        self, planning_url: str, *, headers: dict[str, str] | None = None, timeout: float = 10.0
    ) -> None:
        self._http = httpx.AsyncClient(base_url=planning_url.rstrip("/"), timeout=timeout, headers=headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def story(self, story_id: str) -> StoryFacts:
        try:
            response = await self._http.get(f"/v1/stories/{quote(story_id, safe='')}")
        except httpx.TransportError as error:
            raise TransientError(
                f"planning unreachable for story {story_id}: {type(error).__name__}"
            ) from None
        if response.status_code in (401, 403) or response.status_code >= 500:
            # a token not yet valid or a planning restart: the review waits rather than judging blind
            raise TransientError(f"planning answered {response.status_code} for story {story_id}")
        if response.status_code == 404:
            return StoryFacts(story_id, "(story unknown to planning)", ())
        response.raise_for_status()
        story = response.json()
        return StoryFacts(
            story["title"], story.get("brief") or "", tuple(story.get("acceptance_criteria") or ())
        )
