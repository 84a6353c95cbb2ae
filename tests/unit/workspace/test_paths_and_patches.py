"""Path confinement, the paths a patch touches, and reading a test run's output."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swe_fleet.workspace.domain.changes import parse_porcelain_z
from swe_fleet.workspace.domain.patches import PatchError, paths_from_numstat, touched_paths
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


def test_a_symlink_loop_is_refused(checkout: Path):
    (checkout / "loop").symlink_to(checkout / "loop")
    with pytest.raises(PathRefused, match="'loop/x' cannot be resolved"):
        confine(checkout, "loop/x")


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


def test_header_names_lose_their_first_component_as_git_apply_reads_them():
    traditional = "--- tests/app.py\n+++ tests/app.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    assert touched_paths(traditional) == ["app.py"]
    assert touched_paths("--- app.py\n+++ app.py\n@@ -1 +1 @@\n-x\n+y\n") == ["app.py"]


def test_numstat_output_names_plain_and_renamed_paths():
    assert paths_from_numstat("1\t1\tapp.py\x00") == ["app.py"]
    assert paths_from_numstat("0\t0\t\x00old.py\x00new name.py\x002\t0\tx.py\x00") == [
        "old.py",
        "new name.py",
        "x.py",
    ]
    assert paths_from_numstat("") == []
    with pytest.raises(PatchError, match="unexpected numstat"):
        paths_from_numstat("garbage\x00")


def test_a_patch_without_files_or_making_a_symlink_is_refused():
    with pytest.raises(PatchError, match="no file named"):
        touched_paths("just some text\n")
    symlink = "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+/etc\n"
    with pytest.raises(PatchError, match="symlink"):
        touched_paths(symlink)


def test_porcelain_output_names_changed_and_untracked_paths():
    output = " M app.py\x00?? .github/workflows/ci.yml\x00R  new.py\x00old.py\x00 D gone.py\x00?? nested/\x00"
    assert [(c.code, c.path, c.untracked) for c in parse_porcelain_z(output)] == [
        (" M", "app.py", False),
        ("??", ".github/workflows/ci.yml", True),
        ("R ", "new.py", False),
        (" D", "gone.py", False),
        ("??", "nested/", True),
    ]
    assert parse_porcelain_z("") == []


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


_SEGMENTS = ["..", ".", "src", "app.py", ".git", ".GIT", "hooks", "out", "in", "loop", "", "~", "/"]


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=8), write=st.booleans())
def test_no_path_ever_resolves_outside_or_writes_into_git(tmp_path_factory, parts: list[str], write: bool):
    root = _maze(tmp_path_factory.mktemp("maze"))
    try:
        real = confine(root, "/".join(parts), write=write)
    except PathRefused:
        return
    real_root = root.resolve()
    assert real == real_root or real.is_relative_to(real_root)
    if write:
        assert ".git" not in {part.lower() for part in real.relative_to(real_root).parts}


def _maze(base: Path) -> Path:
    """A checkout with symlinks out of it (`out`), back into it (`in`), into .git (`hooks`) and a loop."""
    root = base / "root"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("x = 1\n")
    (root / ".git" / "hooks").mkdir(parents=True)
    (root / "out").symlink_to(base)
    (root / "src" / "in").symlink_to(root / "src")
    (root / "hooks").symlink_to(root / ".git" / "hooks")
    (root / "loop").symlink_to(root / "loop")
    return root
