"""Reads `git status --porcelain -z`: which paths a command changed, and whether git tracks them.

The toolbox confines its own writes to the role's write paths; a command (a test, a conftest.py) can
write anywhere in the checkout. After each command the toolbox asks git what changed and undoes what
the role may not change, so "QA writes only tests" holds for code that QA's tests run too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    path: str
    # git's two status letters: `??` untracked, ` M` modified, ` D` deleted, ...
    code: str

    @property
    def untracked(self) -> bool:
        return self.code == "??"


def parse_porcelain_z(output: str) -> list[Change]:
    """The changes in `git status --porcelain -z` output (v1; a rename or copy's source is skipped)."""
    changes: list[Change] = []
    fields = output.split("\0")
    index = 0
    while index < len(fields):
        entry = fields[index]
        index += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        changes.append(Change(path=path, code=code))
        if code[0] in "RC":
            index += 1  # the source path follows a staged rename or copy
    return changes
