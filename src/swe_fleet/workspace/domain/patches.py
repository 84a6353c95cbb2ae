"""The paths a unified diff touches, read before it is applied so each can be confined and checked.

Reads `diff --git`, `---`/`+++`, `rename`/`copy from|to` headers; strips the first component of a
header's name as `git apply` does (`a/`, `b/`, or any other) and unquotes git's C-style quoted names.
`paths_from_numstat` reads what `git apply --check --numstat -z` says it would touch: the toolbox checks
the union of both, so a header git reads differently than this module cannot slip a path past.
A patch that names no file, or changes a mode to a symlink's or a submodule's, is refused: the
toolbox edits regular files only.
"""

from __future__ import annotations

import re


class PatchError(ValueError):
    """The text is not a patch the toolbox applies; the message says why."""


_HEADER = re.compile(r"^(?:---|\+\+\+) (?P<path>.+?)(?:\t.*)?$")
_DIFF_GIT = re.compile(r'^diff --git (?P<a>"(?:[^"\\]|\\.)*"|\S+) (?P<b>"(?:[^"\\]|\\.)*"|\S+)$')
_MOVE = re.compile(r"^(?:rename|copy) (?:from|to) (?P<path>.+)$")
_SPECIAL_MODE = re.compile(r"^(?:new file mode|new mode|deleted file mode|old mode|index \S+) (?P<mode>\d+)")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}


def _unquote(name: str) -> str:
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    body, out, index = name[1:-1], bytearray(), 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            following = body[index + 1]
            octal = body[index + 1 : index + 4]
            if len(octal) == 3 and all(digit in "01234567" for digit in octal):
                out.append(int(octal, 8) & 0xFF)
                index += 4
                continue
            out.extend(_ESCAPES.get(following, following).encode())
            index += 2
            continue
        out.extend(char.encode())
        index += 1
    return out.decode(errors="replace")


def _strip_prefix(name: str) -> str | None:
    # As `git apply` (-p1) does: the first component goes, whatever it is (`tests/app.py` is `app.py`).
    name = _unquote(name.strip())
    if name == "/dev/null":
        return None
    return name.split("/", 1)[1] if "/" in name else name


def touched_paths(patch: str) -> list[str]:
    """Every path the patch creates, changes, renames or deletes, in order, without duplicates."""
    paths: list[str] = []
    for line in patch.splitlines():
        names: list[str | None] = []
        if match := _DIFF_GIT.match(line):
            names = [_strip_prefix(match["a"]), _strip_prefix(match["b"])]
        elif line.startswith(("--- ", "+++ ")) and (match := _HEADER.match(line)):
            names = [_strip_prefix(match["path"])]
        elif match := _MOVE.match(line):
            names = [_unquote(match["path"].strip())]
        elif (match := _SPECIAL_MODE.match(line)) and match["mode"] in {"120000", "160000"}:
            raise PatchError("the patch makes a symlink or a submodule; only regular files may be patched")
        for name in names:
            if name is not None and name not in paths:
                paths.append(name)
    if not paths:
        raise PatchError("no file named in the patch: give a unified diff with ---/+++ headers")
    return paths


def paths_from_numstat(output: str) -> list[str]:
    """The paths in `git apply --numstat -z` output (`added\tdeleted\tpath\0`, or for a rename or
    copy `added\tdeleted\t\0source\0destination\0`)."""
    paths: list[str] = []
    fields = output.split("\0")
    index = 0
    while index < len(fields):
        entry = fields[index]
        index += 1
        if not entry:
            continue
        parts = entry.split("\t", 2)
        if len(parts) != 3:
            raise PatchError(f"unexpected numstat entry {entry!r}")
        names = [parts[2]] if parts[2] else fields[index : index + 2]
        if not parts[2]:
            index += 2
        for name in names:
            if name and name not in paths:
                paths.append(name)
    return paths
