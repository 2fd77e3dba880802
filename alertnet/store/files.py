"""The hub's own key files outside the repo (signing key, ack-link secret), created once on first start.

A file is written to a 0600 temporary file, fsynced, and hard-linked into place: ``os.link`` fails if the
file already exists, so when two processes start at once exactly one value wins and both use it, and no
process ever reads half a key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from alertnet.domain.signing import AlertSigner, SigningKeyError, format_seed, parse_seed


def create_once(path: Path, data: bytes) -> None:
    """Write `data` to `path` (mode 0600) unless the file exists; the first writer wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # in case the umask was odd
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    """A random secret kept in `path`, created on first start."""
    if not path.exists():
        create_once(path, secrets.token_bytes(size))
    return path.read_bytes()


def load_or_create_signer(path: Path) -> AlertSigner:
    """The hub's Ed25519 signer from its key file; on first start the key is created.

    Raises SigningKeyError (naming the file) when the file exists but does not hold a key.
    """
    path = Path(path)
    if not path.exists():
        create_once(path, format_seed(AlertSigner.generate().seed).encode("ascii"))
    try:
        return AlertSigner.from_seed(parse_seed(path.read_text(encoding="ascii")))
    except UnicodeDecodeError as error:
        raise SigningKeyError(f"{path}: not a base64 Ed25519 seed") from error
    except SigningKeyError as error:
        raise SigningKeyError(f"{path}: {error}") from None


def read_public_key(path: Path) -> str:
    """A public key published as one line of text (the simulator's SendGrid event key); "" until it is."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return ""
