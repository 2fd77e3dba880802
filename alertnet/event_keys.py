"""SendGrid signed Event Webhook keys (ECDSA P-256, as SendGrid uses).

In production the hub is configured with the public key SendGrid shows (base64 DER). With the simulator,
the simulator's key pair is created on first start in the data folder and the hub reads its public half.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIM_EVENT_KEY_FILE = "sim-sendgrid-event-key.pem"


def load_or_create_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
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


def sign_events(key: ec.EllipticCurvePrivateKey, timestamp: str, payload: bytes) -> str:
    """The X-Twilio-Email-Event-Webhook-Signature value for a payload sent at `timestamp`."""
    return base64.b64encode(key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))).decode()
