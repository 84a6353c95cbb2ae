"""`fleet up` as a real process, and `fleet verify` against it and against broken deployments.

The field report checked a deployment by hand and missed that no consumer existed. `fleet verify` must
be ✅ on a working fleet, and ❌ on the matching row (with a non-zero exit) when NATS is unreachable,
a consumer is missing or the projection is stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleet_testing.auth import token_for
from swe_fleet.embedded.child import free_port
from swe_fleet.events.streams import STREAMS
from tests.support.fleet_up import embedded_env, spawn_fleet_up, stop, wait_ready

# Only the tests on `fleet up` (which starts its own llama-server) are `llm`: the last one runs its
# services without a model, so it need not wait its turn on the one worker that runs the llm tests.


def fleet(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swe_fleet.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def running_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data = tmp_path_factory.mktemp("fleet")
    env = embedded_env(data)
    log = (data / "fleet-up.log").open("w")
    process = spawn_fleet_up(env, log)
    api = f"http://127.0.0.1:{env['FLEET_HTTP_PORT']}"
    try:
        wait_ready(api, process)
        yield {
            "FLEET_API_URL": api,
            "FLEET_NATS_URL": f"nats://127.0.0.1:{env['FLEET_NATS_PORT']}",
            # Made by `fleet up` on its first start, as a user would find it.
            "FLEET_TOKEN_FILE": str(data / "auth" / "po.token"),
            # ...and so is the admin's NATS identity: `fleet verify` inspects every stream and durable.
            "FLEET_NATS_CREDS": str(data / "nats" / "creds" / "fleet-admin.json"),
        }
    finally:
        stop(process)
        log.close()
    assert process.returncode == 0, (data / "fleet-up.log").read_text()[-2000:]


def rows_by_name(report: dict) -> dict[str, dict]:
    return {row["name"]: row for row in report["rows"]}


@pytest.mark.llm
def test_verify_is_all_green_on_a_running_fleet(running_fleet) -> None:
    result = fleet("verify", "--json", "--deadline", "120", env=running_fleet)
    report = json.loads(result.stdout)
    failed = [row for row in report["rows"] if not row["ok"]]
    assert failed == [] and result.returncode == 0, failed
    metrics = {metric["name"]: metric for metric in report["metrics"]}
    # Every stream, plus the streams section's dead-letter growth row.
    assert metrics["Streams created"]["value"] == f"{len(STREAMS) + 1}/{len(STREAMS) + 1}"
    assert metrics["Consumers created"]["ok"] and metrics["Graph nodes (probe)"]["ok"]
    assert int(metrics["Events published (probe)"]["value"]) >= 8
    rows = rows_by_name(report)
    assert rows["graph: PlanApproval from bare JSON"]["found"] == "1"  # the field report's test, passing
    assert rows["processed by orchestrator-plan-approved"]["ok"]


@pytest.mark.llm
def test_probe_stories_stay_off_the_board(running_fleet) -> None:
    token = Path(running_fleet["FLEET_TOKEN_FILE"]).read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    board = httpx.get(f"{running_fleet['FLEET_API_URL']}/v1/stories", headers=headers, timeout=10).json()
    assert not [story for story in board if story["id"].startswith("probe-")]


@pytest.mark.llm
def test_verify_says_which_row_fails_when_nats_is_unreachable(running_fleet) -> None:
    env = {**running_fleet, "FLEET_NATS_URL": f"nats://127.0.0.1:{free_port()}"}
    result = fleet("verify", "--json", "--deadline", "20", env=env)
    rows = rows_by_name(json.loads(result.stdout))
    assert result.returncode == 1
    assert not rows["nats"]["ok"] and "cannot connect to NATS" in rows["nats"]["reason"]
    assert not rows["PLANNING_EVENTS"]["ok"] and rows["PLANNING_EVENTS"]["reason"] == "NATS unreachable"
    assert rows["planning api"]["ok"]  # the other rows still say what they found


@pytest.fixture
def separate_services(nats_server, tmp_path: Path) -> Iterator[dict[str, object]]:
    """Production shape: one process per service (`fleet serve`), no orchestrator, no agent workers."""
    ports = {"planning": free_port(), "context": free_port(), "sentinel": free_port()}
    base = {
        "FLEET_NATS_URL": nats_server.url,
        "FLEET_DATA_DIR": str(tmp_path),
        "FLEET_GRAPH_URL": f"ladybug://{tmp_path / 'graph' / 'g.lbug'}",
        "FLEET_PLANNING_URL": f"http://127.0.0.1:{ports['planning']}",
        "FLEET_CONTEXT_URL": f"http://127.0.0.1:{ports['context']}",
        # `fleet serve` makes no PO token (only `fleet up` does): the operator mints one.
        "FLEET_TOKEN": token_for(tmp_path),
    }
    processes = {}
    for name, port in ports.items():
        log = (tmp_path / f"{name}.log").open("w")
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "swe_fleet.cli", "serve", name],
            env={**os.environ, **base, "FLEET_HTTP_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for name in ("planning", "context"):
            wait_ready(f"http://127.0.0.1:{ports[name]}", processes[name], timeout=60)
        yield {"env": base, "processes": processes}
    finally:
        for process in processes.values():
            stop(process)


def test_verify_flags_a_missing_consumer_and_a_stopped_projection(separate_services) -> None:
    env, processes = separate_services["env"], separate_services["processes"]
    first = json.loads(fleet("verify", "--json", "--deadline", "60", env=env).stdout)
    rows = rows_by_name(first)
    # The orchestrator is not running: its durables are missing, by name.
    assert (
        not rows["orchestrator-plan-approved"]["ok"]
        and "missing" in rows["orchestrator-plan-approved"]["found"]
    )
    # The projection runs: the probe reached the graph, and the context durables processed it.
    assert rows["graph: PlanApproval via the API"]["ok"] and rows["processed by context-plan-approved"]["ok"]

    processes["context"].send_signal(signal.SIGSTOP)  # the projection stops (and its API with it)
    try:
        result = fleet("verify", "--json", "--deadline", "15", env=env)
    finally:
        processes["context"].send_signal(signal.SIGCONT)
    rows = rows_by_name(json.loads(result.stdout))
    assert result.returncode == 1
    assert not rows["processed by context-plan-approved"]["ok"]
    assert not rows["graph: PlanApproval via the API"]["ok"]
    assert not rows["graph"]["ok"]
    assert rows["processed by sentinel-planning-events"]["ok"], rows["processed by sentinel-planning-events"]
