"""`fleet verify` probe stories stay off the board unless asked for."""

from __future__ import annotations

from tests.integration.planning.support import running_planning


async def test_probe_stories_are_hidden_from_lists_unless_asked(nats_server, sqlite_store, tmp_path) -> None:
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        for story_id in ("US-real", "probe-story-x"):
            created = await client.post("/v1/stories", json={"id": story_id, "title": "t", "owner": "po"})
            assert created.status_code == 201, created.text
        board = [s["id"] for s in (await client.get("/v1/stories")).json()]
        everything = [
            s["id"] for s in (await client.get("/v1/stories", params={"include_probes": True})).json()
        ]
        probe = await client.get("/v1/stories/probe-story-x")
    assert board == ["US-real"]
    assert sorted(everything) == ["US-real", "probe-story-x"]
    assert probe.status_code == 200  # hidden from the board, not from whoever asks for it
