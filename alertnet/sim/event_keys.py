"""The simulator's SendGrid signed Event Webhook key pair (ECDSA P-256, as SendGrid uses).

The private key is created on first start (PEM, mode 0600) and signs every event batch. Its public half is
written next to it (`public_key_path`) the way SendGrid displays it, so the receiver can verify events.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIM_EVENT_KEY_FILE = "sim-sendgrid-event-key.pem"
PUBLIC_KEY_SUFFIX = ".pub"


def public_key_path(private_path: Path) -> Path:
    """Where the public half of the key at `private_path` is written: the same name with suffix `.pub`."""
    return private_path.with_suffix(PUBLIC_KEY_SUFFIX)


def load_or_create_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The EC private key at `path`, created there first (mode 0600) if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        try:
            os.link(temp, path)  # atomic; the first process to create it wins
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return key


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key the way SendGrid displays it: base64 of the DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def write_public_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    """Write `public_key_b64(key)` as one line to `path`, atomically (a reader never sees half a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(public_key_b64(key) + "\n", encoding="ascii")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def publish_event_key(private_path: Path) -> ec.EllipticCurvePrivateKey:
    """Load (or create) the private key at `private_path` and write its public half to `public_key_path`."""
    key = load_or_create_private_key(private_path)
    write_public_key(key, public_key_path(private_path))
    return key


def sign_events(key: ec.EllipticCurvePrivateKey, timestamp: str, payload: bytes) -> str:
    """The X-Twilio-Email-Event-Webhook-Signature value for a payload sent at `timestamp`."""
    return base64.b64encode(key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))).decode()
