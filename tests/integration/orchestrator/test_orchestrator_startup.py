"""Start-up of the orchestrator process: a bad councils file stops it with one clear line."""

from __future__ import annotations

import subprocess
import sys

from swe_fleet.orchestrator.domain.council import DEFAULT_COUNCILS_FILE
from tests.support.processes import ROOT


def test_a_bad_councils_file_stops_the_process_naming_the_entry(nats_server, tmp_path) -> None:
    bad = tmp_path / "councils.yaml"
    text = DEFAULT_COUNCILS_FILE.read_text()
    line = text.splitlines().index("  agents: 3") + 1
    bad.write_text(text.replace("  agents: 3\n", "  agents: 0\n", 1))
    finished = subprocess.run(
        [sys.executable, "-m", "swe_fleet.cli", "serve", "orchestrator", "--no-http"],
        cwd=ROOT,
        env={"FLEET_NATS_URL": nats_server.url, "FLEET_ORCHESTRATOR_COUNCILS": str(bad), "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines()[-1] == (
        f"fleet: orchestrator: {bad}: defaults.agents (line {line}): "
        "Input should be greater than or equal to 1"
    )
