"""Secrets on disk: created owner-only (0600, in a 0700 folder) and atomically, never printed."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class SecretFileError(OSError):
    """A secret file cannot be read or is readable by others; the message says which and how to fix it."""


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        os.chmod(path, 0o700)
    return path


def write_secret(path: Path, content: str | bytes, *, replace: bool = False) -> bool:
    """Write `content` to `path` with mode 0600; False (and nothing written) if it exists and not `replace`.

    Creation is exclusive, so two processes starting at once agree on one secret: the loser reads it.
    """
    ensure_private_dir(path.parent)
    data = content.encode() if isinstance(content, str) else content
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if replace:
        os.replace(temporary, path)
        return True
    try:
        os.link(temporary, path)  # fails if the path exists: first writer wins
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    return True


def read_secret(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as error:
        raise SecretFileError(f"cannot read the secret file {path}: {error.strerror or error}") from None
    if mode & 0o077:
        raise SecretFileError(
            f"{path} is readable by other users (mode {mode & 0o777:o}); run: chmod 600 {path}"
        )
    return text
