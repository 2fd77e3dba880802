"""The personal links officials read a cyber bulletin by: signed (HMAC with a key of their own, derived
from the hub's link secret), per recipient, expiring. Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

# --- personal links -------------------------------------------------------------------------------------

MAC_BYTES = 16


class LinkError(ValueError):
    """Not a link the hub made, or one that has expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError("not unpadded URL-safe base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> bytes:
    # A key of its own, derived from the hub's link secret: no other kind of token opens a bulletin.
    key = hmac.new(secret, b"alertnet bulletin link", hashlib.sha256).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).digest()[:MAC_BYTES]


def make_read_token(secret: bytes, bulletin_id: str, official_id: str, expires: float) -> str:
    payload = _b64(json.dumps([bulletin_id, official_id, int(expires)], separators=(",", ":")).encode())
    return f"{payload}.{_b64(_mac(secret, payload))}"


def read_token(secret: bytes, token: str, *, now: float) -> tuple[str, str]:
    """(bulletin id, official id) of a valid, unexpired token; raises LinkError."""
    payload, _, mac = token.partition(".")
    try:
        if not mac or not hmac.compare_digest(_mac(secret, payload), _unb64(mac)):
            raise LinkError("the link is not valid")
        bulletin_id, official_id, expires = json.loads(_unb64(payload))
    except (ValueError, TypeError) as error:
        raise LinkError("the link is not valid") from error
    if now > float(expires):
        raise LinkError("the link has expired")
    return str(bulletin_id), str(official_id)
