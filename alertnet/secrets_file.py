"""A random secret kept in a file outside the repo, created on first start (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(size))
    try:
        os.link(temp, path)  # atomic, and never replaces a secret another process created first
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return path.read_bytes()
