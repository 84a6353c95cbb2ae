"""Path confinement, the paths a patch touches, and reading a test run's output."""

from __future__ import annotations

from pathlib import Path

import pytest

from swe_fleet.workspace.domain.patches import PatchError, touched_paths
from swe_fleet.workspace.domain.paths import PathRefused, confine, relative
from swe_fleet.workspace.domain.pytest_output import parse_test_output


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("x = 1\n")
    (root / ".git" / "hooks").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("outside")
    return root


def test_paths_inside_resolve_to_real_paths(checkout: Path):
    assert confine(checkout, "src/app.py") == (checkout / "src" / "app.py").resolve()
    assert relative(checkout, confine(checkout, "")) == "."
    assert relative(checkout, confine(checkout, "src/../src/new.py", write=True)) == "src/new.py"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc/passwd", "absolute"),
        ("~/.ssh/id_rsa", "absolute"),
        ("../secret.txt", r"outside the checkout \('..'\)"),
        ("src/../../secret.txt", "outside"),
        ("a\x00b", "NUL"),
    ],
)
def test_paths_leaving_the_checkout_are_refused(checkout: Path, path: str, message: str):
    with pytest.raises(PathRefused, match=message):
        confine(checkout, path)


def test_a_symlink_to_a_file_or_directory_outside_is_refused(checkout: Path):
    (checkout / "link.txt").symlink_to(checkout.parent / "secret.txt")
    (checkout / "etc").symlink_to("/etc")
    with pytest.raises(PathRefused, match="symlink pointing outside"):
        confine(checkout, "link.txt")
    with pytest.raises(PathRefused, match="symlink pointing outside"):
        confine(checkout, "etc/passwd")


def test_git_internals_may_be_read_but_never_written(checkout: Path):
    assert confine(checkout, ".git/hooks").is_dir()
    for path in (".git/hooks/pre-commit", ".GIT/config", "src/../.git/config", "sub/.git/config"):
        with pytest.raises(PathRefused, match=r"inside \.git"):
            confine(checkout, path, write=True)
    (checkout / "hooks").symlink_to(checkout / ".git" / "hooks")
    with pytest.raises(PathRefused, match=r"inside \.git"):
        confine(checkout, "hooks/post-commit", write=True)


PATCH = """diff --git a/src/app.py b/src/app.py
index 1..2 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1 +1 @@
-x = 1
+x = 2
diff --git a/old.txt b/new.txt
similarity index 100%
rename from old.txt
rename to new.txt
--- /dev/null
+++ "b/sp ace\\303\\251.txt"
@@ -0,0 +1 @@
+hi
"""


def test_a_patch_names_every_path_it_touches():
    assert touched_paths(PATCH) == ["src/app.py", "old.txt", "new.txt", "sp aceé.txt"]


def test_a_patch_without_files_or_making_a_symlink_is_refused():
    with pytest.raises(PatchError, match="no file named"):
        touched_paths("just some text\n")
    symlink = "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+/etc\n"
    with pytest.raises(PatchError, match="symlink"):
        touched_paths(symlink)


def test_failing_tests_and_the_tally_are_read_from_pytest_and_unittest_output():
    pytest_output = (
        "tests/test_a.py F.\n"
        "=========================== short test summary info ============================\n"
        "FAILED tests/test_a.py::test_one - AssertionError: assert 1 == 2\n"
        "ERROR tests/test_b.py - ImportError\n"
        "FAILED tests/test_a.py::test_one - again\n"
        "===================== 1 failed, 1 passed, 1 error in 0.12s =====================\n"
    )
    failing, tally = parse_test_output(pytest_output)
    assert failing == ("tests/test_a.py::test_one", "tests/test_b.py")
    assert tally == "1 failed, 1 passed, 1 error in 0.12s"
    unittest_output = "FAIL: test_y (tests.test_m.Case)\n----\nRan 3 tests in 0.001s\n\nFAILED (failures=1)\n"
    assert parse_test_output(unittest_output) == (("test_y (tests.test_m.Case)",), "Ran 3 tests in 0.001s")
    assert parse_test_output("..                  [100%]\n2 passed in 0.01s\n") == ((), "2 passed in 0.01s")
    assert parse_test_output("") == ((), "")
