"""The fault-injection suite: `--chaos-full` runs every scenario at full traffic (`make chaos`) and
writes RELIABILITY.md; without it a short version runs inside `make test`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fleet_testing.chaos.scenarios import SCENARIOS, SMOKE, Result

ROOT = Path(__file__).resolve().parents[2]
FULL_COMMAND = ".venv/bin/python -m pytest -q -ra tests/chaos --chaos-full"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-full",
        action="store_true",
        default=False,
        help="run every fault-injection scenario at full traffic and write RELIABILITY.md",
    )


def full_run(config: pytest.Config) -> bool:
    return bool(config.getoption("--chaos-full", default=False))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario_name" in metafunc.fixturenames:
        names = list(SCENARIOS if full_run(metafunc.config) else SMOKE)
        metafunc.parametrize("scenario_name", names)


RESULTS: list[Result] = []
STARTED: list[float] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    STARTED.append(time.monotonic())


@pytest.fixture
def chaos_results() -> list[Result]:
    return RESULTS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A full run rewrites RELIABILITY.md; a full-traffic run of some scenarios (`-k`) replaces their
    rows only, and the file says which rows came from that run."""
    if not (full_run(session.config) and RESULTS):
        return
    from fleet_testing.chaos.report import update_reliability, write_reliability

    order = list(SCENARIOS)
    results = sorted(RESULTS, key=lambda result: order.index(result.scenario.name))
    seconds = time.monotonic() - STARTED[0] if STARTED else None
    if len(RESULTS) == len(SCENARIOS):
        write_reliability(results, ROOT / "RELIABILITY.md", FULL_COMMAND, seconds)
    elif (ROOT / "RELIABILITY.md").exists():
        keyword = session.config.getoption("keyword", default="") or "..."
        command = f"{FULL_COMMAND} -k {keyword!r}"
        update_reliability(results, ROOT / "RELIABILITY.md", command, order, seconds)
