"""A real git checkout of a tiny Python project, the real bubblewrap sandbox, and toolboxes per role."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.redaction import redact
from swe_fleet.workspace.adapters.git_repo import GitWorkspaces
from swe_fleet.workspace.adapters.llm_model import LlmAgentModel
from swe_fleet.workspace.adapters.result_ledger import KvResultLedger
from swe_fleet.workspace.adapters.sandbox import BubblewrapSandbox
from swe_fleet.workspace.app.executor import TaskExecutor
from swe_fleet.workspace.app.toolbox import Toolbox
from swe_fleet.workspace.domain.policy import Limits, WorkspacePolicies, load_policies

TEST_COMMAND = "python -m pytest -q -p no:cacheprovider"

APP = "def add(a, b):\n    return a + b\n"
TESTS = (
    "from app import add\n\n\n"
    "def test_adds():\n    assert add(2, 3) == 5\n\n\n"
    "def test_adds_negatives():\n    assert add(-2, -3) == -5\n"
)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "tests").mkdir(parents=True)
    (root / "app.py").write_text(APP)
    (root / "tests" / "test_app.py").write_text(TESTS)
    (root / "README.md").write_text("# demo\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    (tmp_path / "outside-secret.txt").write_text("the host's secret\n")
    return root


@pytest.fixture(scope="session")
def sandbox() -> BubblewrapSandbox:
    sandbox = BubblewrapSandbox()
    reason = sandbox.available()
    assert reason is None, f"these tests need bubblewrap: {reason}"
    return sandbox


@pytest.fixture(scope="session")
def policies() -> WorkspacePolicies:
    return load_policies()


@pytest.fixture
def toolbox_for(
    checkout: Path, sandbox: BubblewrapSandbox, policies: WorkspacePolicies
) -> Callable[..., Toolbox]:
    def make(role: str = "DEV", **limits: object) -> Toolbox:
        policy = policies.for_role(role)
        if limits:
            merged = Limits.model_validate({**policy.limits.model_dump(), **limits})
            policy = policy.model_copy(update={"limits": merged})
        return Toolbox(checkout, policy, sandbox, TEST_COMMAND, redact)

    return make


async def real_executor(js, source, work_dir: Path, client) -> tuple[TaskExecutor, EventPublisher]:
    """The workspace's executor in process with its real parts (JetStream, KV ledger, git,
    bubblewrap, the shipped policies), the model being `client`'s server for every role."""
    publisher = EventPublisher(js, producer="test")
    executor = TaskExecutor(
        source=source,
        workspaces=GitWorkspaces(work_dir),
        ledger=await KvResultLedger.open(js),
        publisher=publisher,
        sandbox=BubblewrapSandbox(),
        policies=load_policies(),
        model_for=lambda role: LlmAgentModel(client),
        redact=redact,
    )
    return executor, publisher
