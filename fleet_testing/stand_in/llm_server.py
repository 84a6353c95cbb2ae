"""A stand-in OpenAI-compatible LLM server: a real HTTP process that answers at once, no model.

    python -m fleet_testing.stand_in.llm_server PORT     # FLEET_STAND_IN_LLM_LATENCY=0.3: seconds per answer

It serves what the fleet's LLM client uses: `GET /v1/models`, `GET /health` and
`POST /v1/chat/completions`. A completion asked for with `response_format: json_schema` is a JSON
document built from that schema (the first enum value, strings cut to their limits, the fewest items
allowed), so agent workers answer valid outputs in milliseconds. Fault tests kill and restart it as
they would the real llama-server, without minutes of CPU inference on a shared machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from fastapi import FastAPI, Request

MODEL = "stand-in"
_TEXT = "A stand-in answer: concrete, short and valid for its schema."


def instance_of(schema: dict[str, Any]) -> Any:
    """A small value that validates against `schema` (the subset the fleet's answer shapes use)."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return instance_of(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = schema.get("required", list(properties))  # optional fields left out
        return {name: instance_of(sub) for name, sub in properties.items() if name in required}
    if kind == "array":
        prefix = [instance_of(item) for item in schema.get("prefixItems", [])]
        count = max(int(schema.get("minItems", 1)), len(prefix))
        rest = [instance_of(schema.get("items") or {"type": "string"}) for _ in range(count - len(prefix))]
        return prefix + rest
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", low + 10)
        value = min(max(low + 1, (low + high) // 2 if kind == "integer" else (low + high) / 2), high)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = _TEXT * (1 + int(schema.get("minLength", 0)) // len(_TEXT))
    return text[: int(schema.get("maxLength", len(_TEXT)))]


def completion_for(body: dict[str, Any]) -> dict[str, Any]:
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema")
    content = json.dumps(instance_of(schema)) if schema else json.dumps({"answer": _TEXT})
    prompt = sum(len(str(message.get("content", ""))) for message in body.get("messages", [])) // 4
    return {
        "id": f"chatcmpl-stand-in-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": prompt, "completion_tokens": len(content) // 4 + 1},
    }


def build_app(latency: float = 0.0) -> FastAPI:
    app = FastAPI(title="stand-in LLM server")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "fleet_testing"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        if latency > 0:  # a model's time per answer, so faults can land mid-deliberation
            await asyncio.sleep(latency)
        return completion_for(await request.json())

    return app


def main(port: int) -> None:
    import uvicorn

    latency = float(os.environ.get("FLEET_STAND_IN_LLM_LATENCY", "0") or 0)
    uvicorn.run(build_app(latency), host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(int(sys.argv[1]))
