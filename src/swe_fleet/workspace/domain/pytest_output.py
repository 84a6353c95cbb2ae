"""Reads a test run's output: the failing tests it names and its final tally.

pytest's short summary (`FAILED tests/test_x.py::test_y - ...`, `ERROR tests/test_x.py - ...`, on by
default as `-r fE`) and unittest's `FAIL: test_y (module.Case)` / `ERROR: ...` lines.
"""

from __future__ import annotations

import re

# A test id names a file or a node (`::`), so unittest's closing `FAILED (failures=1)` is not one.
_PYTEST = re.compile(r"^(?:FAILED|ERROR) (?P<test>[^\s(]\S*(?:\.py|::)\S*)", re.MULTILINE)
_UNITTEST = re.compile(r"^(?:FAIL|ERROR): (?P<test>\S+ \([\w.]+\))", re.MULTILINE)
# `==== 1 failed, 2 passed in 0.12s ====` (bare with -q) or unittest's `Ran 3 tests in 0.001s`.
_TALLY = re.compile(
    r"^(?:=+ )?(?P<tally>(?:\d+ \w+|no tests ran)[^\n=]*? in [\d.]+s(?: \([^)\n]*\))?)(?: =+)?$"
    r"|^(?P<ran>Ran \d+ tests? in [\d.]+s)$",
    re.MULTILINE,
)


def parse_test_output(output: str) -> tuple[tuple[str, ...], str]:
    """(failing test ids in order of appearance without duplicates, the last tally line or "")."""
    failing: list[str] = []
    for match in (*_PYTEST.finditer(output), *_UNITTEST.finditer(output)):
        test = match["test"]
        if test not in failing:
            failing.append(test)
    tallies = list(_TALLY.finditer(output))
    tally = ""
    if tallies:
        last = tallies[-1]
        tally = last["tally"] or last["ran"] or ""
    return tuple(failing), tally
