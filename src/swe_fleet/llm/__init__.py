"""A client for any OpenAI-compatible chat server (llama.cpp's llama-server, vLLM, Ollama).

`LlmClient.complete` sends chat messages, optionally constrained to a JSON Schema, with timeouts,
retries, a concurrency limit and per-call usage. Token counts: `swe_fleet.tokens` (the server's
tokenizer through `llm.tokenizer` when it has one).
"""

from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.completion import ChatMessage, Completion, StructuredOutput
from swe_fleet.llm.config import LlmConfig
from swe_fleet.llm.errors import LlmError, LlmRejected, LlmTimedOut, LlmUnavailable

__all__ = [
    "ChatMessage",
    "Completion",
    "LlmClient",
    "LlmConfig",
    "LlmError",
    "LlmRejected",
    "LlmTimedOut",
    "LlmUnavailable",
    "StructuredOutput",
]
