"""The demo's sample repository: a tiny Python project whose test fails until `add()` adds.

Created once under the data directory as a bare repository (the fleet's "remote"); each demo run's
story gets its own branch `fleet/<story-id>` in it, and `main` is never touched.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

CALC = '''"""A small calculator."""


def add(a, b):
    """The sum of a and b."""
    return a - b


def mul(a, b):
    """The product of a and b."""
    return a * b
'''

TEST_CALC = """from calc import add, mul


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(2, 3) == 6
"""

README = "# calc\n\nA small calculator. Run the tests with `python -m pytest -q`.\n"
TEST_COMMAND = "python -m pytest -q -p no:cacheprovider"


def _git(*args: str, cwd: Path | None = None) -> None:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        ["git", "-c", "user.name=Demo", "-c", "user.email=demo@swe-fleet.invalid", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


def ensure_sample_repo(data_dir: Path) -> Path:
    """The bare repository of the sample project (made on first use); its path."""
    bare = (data_dir / "demo" / "calc.git").resolve()
    if (bare / "HEAD").exists():
        return bare
    bare.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fleet-demo-seed-") as seed_dir:
        seed = Path(seed_dir)
        _git("init", "--quiet", "-b", "main", str(seed))
        for name, text in (("calc.py", CALC), ("test_calc.py", TEST_CALC), ("README.md", README)):
            (seed / name).write_text(text)
        _git("add", "--all", cwd=seed)
        _git("commit", "--quiet", "-m", "A calculator whose add() is wrong", cwd=seed)
        _git("clone", "--quiet", "--bare", str(seed), str(bare))
    return bare


def tests_on_branch(bare: Path, branch: str) -> tuple[bool, str]:
    """Run the sample's tests on `branch` in a throw-away clone: (passed, the last line of pytest)."""
    with tempfile.TemporaryDirectory(prefix="fleet-demo-check-") as clone_dir:
        clone = Path(clone_dir) / "calc"
        _git("clone", "--quiet", "--branch", branch, str(bare), str(clone))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=120,
        )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return result.returncode == 0, lines[-1] if lines else f"exit {result.returncode}"
