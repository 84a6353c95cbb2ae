"""Workspace policies: validated at start-up, checked fail-closed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from swe_fleet.events.payloads import Role
from swe_fleet.workspace.domain.policy import (
    CommandRefused,
    CommandVerdict,
    RoleNotAllowed,
    WorkspacePolicyError,
    default_policies_path,
    load_policies,
    parse_policies,
    split_command,
)
from swe_fleet.workspace.domain.tools import WRITING_TOOLS, ToolName


@pytest.fixture(scope="module")
def policies():
    return load_policies()


def _document() -> dict:
    return yaml.safe_load(default_policies_path().read_text())


def test_every_council_role_has_a_policy_and_architect_only_reads(policies):
    for role in Role:
        assert policies.for_role(role.value).may_use(ToolName.FINISH)
    architect = policies.for_role("ARCHITECT")
    assert not architect.tools & WRITING_TOOLS
    assert ToolName.RUN_COMMAND not in architect.tools and ToolName.RUN_TESTS not in architect.tools
    assert architect.limits.max_steps == 30  # its override
    assert architect.limits.memory_mb == policies.for_role("DEV").limits.memory_mb  # the default


def test_a_role_outside_the_policies_gets_no_workspace(policies):
    with pytest.raises(RoleNotAllowed, match="'INTERN' has no workspace policy"):
        policies.for_role("INTERN")


def test_qa_writes_only_tests_and_dev_writes_code(policies):
    qa, dev = policies.for_role("QA"), policies.for_role("DEV")
    for path in (
        "tests/test_x.py",
        "tests/unit/helpers.py",
        "pkg/tests/data.json",
        "test_y.py",
        "conftest.py",
    ):
        assert qa.may_write(path), path
    for path in ("src/app.py", "setup.py", "latest_news.py", "Makefile"):
        assert not qa.may_write(path), path
        assert dev.may_write(path), path


def test_ci_files_are_protected_except_for_devops(policies):
    for role in ("DEV", "QA", "DATA"):
        policy = policies.for_role(role)
        for path in (".github/workflows/ci.yml", ".GitHub/Workflows/x.yml", ".gitlab-ci.yml", ".gitmodules"):
            assert not policy.may_write(path), (role, path)
            assert policy.protection(path) is not None
    devops = policies.for_role("DEVOPS")
    assert devops.may_write(".github/workflows/ci.yml") and not devops.may_write(".gitmodules")
    assert policies.for_role("DEV").protection("src/github.py") is None


def test_commands_are_allowed_denied_or_wait_for_approval(policies):
    dev = policies.for_role("DEV")
    assert dev.check_command(("python", "-m", "pytest", "-q")).verdict is CommandVerdict.ALLOWED
    assert dev.check_command(("ruff", "check", ".")).verdict is CommandVerdict.ALLOWED
    denied = dev.check_command(("curl", "http://example.com"))
    assert denied.verdict is CommandVerdict.DENIED
    assert "`curl http://example.com` is not allowed" in denied.reason and "python -m pytest" in denied.reason
    approval = dev.check_command(("pip", "install", "requests"))
    assert approval.verdict is CommandVerdict.APPROVAL_REQUIRED
    assert "Product Owner's approval" in approval.reason
    # QA runs tests only.
    assert policies.for_role("QA").check_command(("ruff", "check")).verdict is CommandVerdict.DENIED


def test_an_args_pattern_must_match_every_further_argument():
    document = _document()
    document["roles"]["DEV"]["commands"] = [{"prefix": ["git", "log"], "args_pattern": r"-n\d+|--oneline"}]
    dev = parse_policies(document).for_role("DEV")
    assert dev.check_command(("git", "log", "--oneline", "-n5")).verdict is CommandVerdict.ALLOWED
    assert dev.check_command(("git", "log", "--output=/etc/x")).verdict is CommandVerdict.DENIED


def test_commands_are_split_without_a_shell_and_shell_syntax_is_refused():
    assert split_command("python -m pytest -k 'a and b'") == ("python", "-m", "pytest", "-k", "a and b")
    assert split_command("pytest -k 'a;b' --x=(y)") == ("pytest", "-k", "a;b", "--x=(y)")
    for command in (
        "pytest ; rm -rf /",
        "pytest;rm x",
        "a 2>&1",
        "pytest | tee x",
        "pytest && curl x",
        "pytest > out",
        "echo $(id)",
    ):
        with pytest.raises(CommandRefused, match="without a shell"):
            split_command(command)
    with pytest.raises(CommandRefused, match="cannot split"):
        split_command("pytest 'unbalanced")
    with pytest.raises(CommandRefused, match="empty"):
        split_command("   ")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["roles"]["DEV"].update(tools=["read_file", "teleport", "finish"]), "roles.DEV.tools"),
        (lambda d: d["roles"]["DEV"].update(tools=["read_file"]), "must include finish"),
        (lambda d: d["roles"]["QA"].update(write_paths=[]), "write_paths: empty"),
        (lambda d: d["roles"]["DEV"].update(commands=[], requires_approval=[]), "commands: empty"),
        (lambda d: d["defaults"]["limits"].update(memory_mb=0), "memory_mb"),
        (
            lambda d: d["roles"]["DEV"].update(limits={"wall_timeout_s": -1}),
            "roles.DEV.limits.wall_timeout_s",
        ),
        (
            lambda d: d["roles"]["DEV"]["commands"].append({"prefix": ["x"], "args_pattern": "("}),
            "not a regular",
        ),
        (lambda d: d["roles"]["DEV"].update(shell=True), "roles.DEV.shell"),
        (lambda d: d["defaults"].update(tools=[]), "defaults: only `limits`"),
    ],
)
def test_a_bad_policy_is_refused_at_start_up_naming_the_entry(change, message):
    document = _document()
    change(document)
    with pytest.raises(WorkspacePolicyError, match=message):
        parse_policies(document)


def test_an_unreadable_policies_file_is_one_clear_error(tmp_path: Path):
    broken = tmp_path / "policies.yaml"
    broken.write_text("roles: [unclosed\n")
    with pytest.raises(WorkspacePolicyError, match="cannot read the workspace policies"):
        load_policies(broken)
    with pytest.raises(WorkspacePolicyError, match="cannot read"):
        load_policies(tmp_path / "missing.yaml")
