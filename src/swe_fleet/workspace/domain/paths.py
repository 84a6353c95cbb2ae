"""Path confinement: every path a tool is given is resolved inside the checkout, or refused.

Refused: absolute paths and `~`, NUL bytes, `..` leading out, symlinks whose real target lies outside
the root (the real path is what is checked, not the text), and any write into `.git` (a hook or a
config written there would run outside the sandbox at the next git command).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class PathRefused(ValueError):
    """The path leaves the checkout or touches what a tool may not; the message says which."""


def _is_git_internal(parts: tuple[str, ...]) -> bool:
    # Case-insensitive: on a case-insensitive file system `.GIT/hooks` is `.git/hooks`.
    return any(part.lower() == ".git" for part in parts)


def confine(root: Path, path: str, *, write: bool = False) -> Path:
    """The real absolute path of `path` (relative to `root`) inside `root`; PathRefused otherwise."""
    if "\x00" in path:
        raise PathRefused("the path contains a NUL byte")
    text = path.strip() or "."
    lexical = PurePosixPath(text)
    if lexical.is_absolute() or text.startswith("~"):
        raise PathRefused(f"{text!r} is absolute: give a path relative to the checkout's root")
    real_root = root.resolve(strict=True)
    # resolve() follows every symlink on the way, existing or not yet existing parts alike.
    try:
        real = (real_root / lexical).resolve()
    except (RuntimeError, OSError) as error:  # a symlink loop (RuntimeError on Python 3.11, OSError later)
        raise PathRefused(f"{text!r} cannot be resolved: {error}") from None
    if real != real_root and not real.is_relative_to(real_root):
        if ".." in lexical.parts:
            raise PathRefused(f"{text!r} leads outside the checkout ('..')")
        raise PathRefused(f"{text!r} is (or goes through) a symlink pointing outside the checkout")
    if write:
        if real == real_root:
            raise PathRefused("the checkout's root is not a file")
        if _is_git_internal(lexical.parts) or _is_git_internal(real.relative_to(real_root).parts):
            raise PathRefused(f"{text!r} is inside .git: git's internals are not writable")
    return real


def relative(root: Path, real: Path) -> str:
    """`real` (inside `root`) as the POSIX path an agent sees, `.` for the root itself."""
    rel = real.relative_to(root.resolve()).as_posix()
    return rel or "."
