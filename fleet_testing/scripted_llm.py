"""A real OpenAI-compatible HTTP server that answers from scripts: the agent loop's test partner.

    server = ScriptedLlm().start()
    server.script("TASK-1", [Turn.call("write_file", path="a.py", content="..."), Turn.call("finish", ...)])
    FLEET_LLM_URL=server.url

A request is matched to a script by a key (any text) found in its messages; which turn it gets is
the number of assistant turns already in the conversation, so the server keeps no conversation state
and a client that starts a conversation again (a restarted worker) is answered from the first turn.
Past a script's end, or with no script matched, it calls `finish`.

With `tools=False` the server refuses requests offering tools, as a server without function calling
does, and answers the JSON "next action" form (`{"tool": ..., "arguments": {...}}`) instead.
A turn may `hold` until the test releases it (to kill a worker mid-task deterministically).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from swe_fleet.embedded.child import free_port


@dataclass
class Turn:
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    content: str = ""
    hold: threading.Event | None = None
    # Answer this HTTP error instead (e.g. 400 "the request exceeds the available context size").
    error: tuple[int, str] | None = None

    @classmethod
    def call(cls, tool: str, **arguments: Any) -> Turn:
        return cls(tool=tool, arguments=arguments)

    @classmethod
    def say(cls, content: str) -> Turn:
        return cls(content=content)


@dataclass
class Seen:
    key: str | None
    turn: int
    offered_tools: list[str]
    messages: list[dict[str, Any]]


class ScriptedLlm:
    def __init__(self, *, tools: bool = True, model: str = "scripted", latency: float = 0.0) -> None:
        self.tools = tools
        # Seconds each answer takes, as a real model's would (benchmarks); 0 answers at once.
        self.latency = latency
        self.model = model
        self.scripts: dict[str, list[Turn]] = {}
        self.seen: list[Seen] = []
        self.arrived = threading.Condition()
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, key: str, turns: list[Turn]) -> None:
        self.scripts[key] = turns

    def wait_for(self, key: str, turn: int, timeout: float = 120.0) -> None:
        """Block until a request for `key`'s turn `turn` arrived (refused ones with tools included)."""
        with self.arrived:
            if not self.arrived.wait_for(
                lambda: any(s.key == key and s.turn == turn for s in self.seen), timeout=timeout
            ):
                raise TimeoutError(f"no request for {key} turn {turn} within {timeout}s")

    def start(self) -> ScriptedLlm:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._send(200, {"object": "list", "data": [{"id": scripted.model, "object": "model"}]})
                else:
                    self._send(200 if self.path == "/health" else 404, {"status": "ok"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                status, answer = scripted.answer(body)
                # The client may have been killed while its turn was held.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(status, answer)

            def _send(self, status: int, document: dict[str, Any]) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------------ answering

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        messages = body.get("messages") or []
        text = json.dumps(messages)
        key = next((k for k in self.scripts if k in text), None)
        index = sum(1 for m in messages if m.get("role") == "assistant")
        offered = [tool["function"]["name"] for tool in body.get("tools") or []]
        with self.arrived:
            self.seen.append(Seen(key, index, offered, messages))
            self.arrived.notify_all()
        if body.get("tools") and not self.tools:
            return 400, {"error": {"message": "tools are not supported by this server", "code": 400}}
        turns = self.scripts.get(key or "", [])
        turn = turns[index] if index < len(turns) else Turn.call("finish", summary="script ended")
        if turn.hold is not None:
            turn.hold.wait(600)
        if self.latency:
            time.sleep(self.latency)
        if turn.error is not None:
            return turn.error[0], {"error": {"message": turn.error[1], "code": turn.error[0]}}
        usage = {"prompt_tokens": len(text) // 4, "completion_tokens": 20}
        message: dict[str, Any] = {"role": "assistant", "content": turn.content or None}
        if turn.tool is not None and body.get("tools"):
            message["tool_calls"] = [
                {
                    "id": f"call_{index}",
                    "type": "function",
                    "function": {"name": turn.tool, "arguments": json.dumps(turn.arguments)},
                }
            ]
        elif turn.tool is not None:
            message["content"] = json.dumps({"tool": turn.tool, "arguments": turn.arguments})
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if turn.tool else "stop"}
        return 200, {"id": f"scripted-{index}", "model": self.model, "choices": [choice], "usage": usage}
