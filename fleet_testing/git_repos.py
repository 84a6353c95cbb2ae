"""Real git repositories for tests: a bare "remote" seeded with a small Python project."""

from __future__ import annotations

import subprocess
from pathlib import Path

CALC = """def add(a, b):
    return a - b


def mul(a, b):
    return a * b
"""

TEST_CALC = """from calc import add, mul


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(2, 3) == 6
"""


def run_git(*args: str, cwd: Path | None = None) -> str:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def seeded_remote(root: Path, files: dict[str, str] | None = None, *, branch: str = "main") -> Path:
    """A bare repository whose `branch` holds `files` (by default a calculator with a failing test)."""
    work, bare = root / "seed", root / "remote.git"
    work.mkdir(parents=True)
    run_git("init", "--quiet", "-b", branch, str(work))
    for name, text in (files or {"calc.py": CALC, "test_calc.py": TEST_CALC}).items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    run_git("add", "--all", cwd=work)
    run_git("commit", "--quiet", "-m", "Initial commit", cwd=work)
    run_git("clone", "--quiet", "--bare", str(work), str(bare))
    return bare


def branches(bare: Path) -> dict[str, str]:
    """Every branch of the repository and its head."""
    refs = run_git("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads", cwd=bare)
    return dict(line.split(" ", 1) for line in refs.splitlines())


def commits(bare: Path, branch: str) -> list[str]:
    """The branch's commit subjects and trailers, newest first."""
    return run_git(
        "log", "--format=%s|%(trailers:key=Fleet-Task,valueonly,separator=%x2C)", branch, cwd=bare
    ).split("\n")[:-1]
