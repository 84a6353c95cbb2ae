"""The event vocabulary as JSON Schema, and as an AsyncAPI document generated from the models."""

from __future__ import annotations

from typing import Any

from swe_fleet import __version__
from swe_fleet.events.catalogue import CATALOGUE
from swe_fleet.events.envelope import Envelope
from swe_fleet.events.streams import STREAMS, stream_for_subject


def json_schemas() -> dict[str, Any]:
    """One JSON Schema per subject's payload, plus the envelope."""
    return {
        "envelope": Envelope.model_json_schema(),
        "subjects": {subject: spec.model.model_json_schema() for subject, spec in sorted(CATALOGUE.items())},
    }


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for subject, spec in sorted(CATALOGUE.items()):
        key = subject.replace(".", "_")
        stream = stream_for_subject(subject)
        messages[key] = {
            "name": key,
            "summary": spec.model.__name__,
            "title": spec.description,
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {"Nats-Msg-Id": {"type": "string", "description": "= event_id"}},
            },
            "payload": {
                "allOf": [{"$ref": "#/components/schemas/Envelope"}],
                "properties": {
                    "event_type": {"const": subject},
                    "schema_version": {"enum": list(spec.schema_versions)},
                    "payload": spec.model.model_json_schema(),
                },
            },
        }
        channels[key] = {
            "address": subject,
            "description": f"{spec.description} (stream {stream.name if stream else '-'})",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"publish_{key}"] = {"action": "send", "channel": {"$ref": f"#/channels/{key}"}}
    envelope = Envelope.model_json_schema()
    envelope["properties"]["payload"] = {"type": "object"}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "SWE Fleet events",
            "version": __version__,
            "description": "Every event travels in one envelope over NATS JetStream. Streams: "
            + ", ".join(f"{s.name} ({', '.join(s.subjects)})" for s in STREAMS),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": {"Envelope": envelope}},
    }
