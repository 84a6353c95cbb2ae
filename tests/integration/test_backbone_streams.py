"""Stream provisioning against a real nats-server: idempotent, updates drift, never deletes."""

from __future__ import annotations

from nats.js.api import StorageType

from swe_fleet.backbone.provisioning import Change, ensure_streams, stream_config
from swe_fleet.events.streams import STREAMS, STREAMS_BY_NAME


async def test_every_stream_is_created_with_file_storage_and_limits(nc) -> None:
    js = nc.jetstream()
    first = await ensure_streams(js)
    assert [p.change for p in first] == [Change.CREATED] * len(STREAMS)
    for spec in STREAMS:
        info = await js.stream_info(spec.name)
        assert info.config.storage == StorageType.FILE
        assert sorted(info.config.subjects) == sorted(spec.subjects)
        assert info.config.max_age == spec.max_age_seconds
        assert info.config.duplicate_window == spec.duplicate_window_seconds


async def test_ensure_twice_changes_nothing(nc) -> None:
    js = nc.jetstream()
    await ensure_streams(js)
    second = await ensure_streams(js)
    assert {p.change for p in second} == {Change.UNCHANGED}


async def test_drifted_stream_is_updated_in_place_and_keeps_its_messages(nc) -> None:
    js = nc.jetstream()
    await ensure_streams(js)
    await js.publish("planning.story.created", b"{}")
    drifted = stream_config(STREAMS_BY_NAME["PLANNING_EVENTS"])
    drifted.max_age = 60.0
    drifted.duplicate_window = 30.0
    await js.update_stream(drifted)

    result = {p.name: p for p in await ensure_streams(js)}

    assert result["PLANNING_EVENTS"].change == Change.UPDATED
    assert "max_age" in result["PLANNING_EVENTS"].detail
    info = await js.stream_info("PLANNING_EVENTS")
    assert info.config.max_age == STREAMS_BY_NAME["PLANNING_EVENTS"].max_age_seconds
    assert info.state.messages == 1
