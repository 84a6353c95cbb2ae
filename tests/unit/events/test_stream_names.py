"""Stream names come from events/streams.py only: each named constant is a provisioned stream."""

from __future__ import annotations

from pathlib import Path

from swe_fleet.events import streams


def test_every_stream_name_constant_names_a_provisioned_stream() -> None:
    constants = {value for name, value in vars(streams).items() if name.isupper() and isinstance(value, str)}
    assert constants, "no stream name constants"
    assert constants <= set(streams.STREAMS_BY_NAME)
    assert {"PLANNING_EVENTS", "AGENT_COMMANDS", "AGENT_RESPONSES", "DEAD_LETTERS"} <= constants


def test_no_module_but_streams_py_spells_a_stream_name_as_a_literal() -> None:
    root = Path(__file__).resolve().parents[3]
    quoted = {f'"{name}"' for name in streams.STREAMS_BY_NAME} | {
        f"'{name}'" for name in streams.STREAMS_BY_NAME
    }
    offenders = []
    for folder in ("src", "fleet_testing"):
        for path in (root / folder).rglob("*.py"):
            if path.name == "streams.py" and path.parent.name == "events":
                continue
            text = path.read_text(encoding="utf-8")
            offenders += [f"{path.relative_to(root)}: {literal}" for literal in quoted if literal in text]
    assert offenders == []
