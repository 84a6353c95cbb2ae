import pytest

from swe_fleet.embedded.llm_server import EmbeddedLlamaServer
from tests.integration.llm.server import shared_llama_server


@pytest.fixture(scope="session")
def llama_server() -> EmbeddedLlamaServer:
    """A real llama-server with the local model, shared by the whole session."""
    return shared_llama_server()
