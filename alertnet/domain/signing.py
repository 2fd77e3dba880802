"""Ed25519 signatures over an alert's canonical bytes (PyNaCl), and the short verification code.

Pure: the key's seed comes in as bytes (`alertnet.store.files` keeps it in a 0600 file). The key file
holds one line, the 32-byte seed in standard base64: `parse_seed` reads that text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import SigningKey, VerifyKey

SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_CHARS = 6


class SigningKeyError(Exception):
    """The key file exists but does not hold a key."""


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (with padding); raises binascii.Error/ValueError on anything else."""
    return base64.b64decode(text.strip().encode("ascii"), validate=True)


def key_id_for(public_key: bytes) -> str:
    """A short stable name of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class AlertSigner:
    """Signs with the hub's Ed25519 key. ``key_id`` and ``public_key_b64`` are published for verifiers."""

    def __init__(self, signing_key: SigningKey) -> None:
        self._key = signing_key
        public = bytes(signing_key.verify_key)
        self.public_key_b64: str = base64.b64encode(public).decode("ascii")
        self.key_id: str = key_id_for(public)

    @classmethod
    def generate(cls) -> AlertSigner:
        """A fresh key held only in memory (tests, tools)."""
        return cls(SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> AlertSigner:
        return cls(SigningKey(seed))

    @property
    def seed(self) -> bytes:
        """The private 32-byte seed (to be kept in a 0600 key file, never logged)."""
        return bytes(self._key)

    def sign(self, data: bytes) -> str:
        """The detached Ed25519 signature of ``data``, standard base64 with padding (88 characters)."""
        return base64.b64encode(self._key.sign(data).signature).decode("ascii")


def parse_seed(text: str) -> bytes:
    """The seed in a key file's text; raises SigningKeyError if it does not hold one."""
    try:
        seed = _b64decode(text)
    except ValueError as error:  # binascii.Error is a ValueError
        raise SigningKeyError("not a base64 Ed25519 seed") from error
    if len(seed) != SEED_BYTES:
        raise SigningKeyError(f"expected a {SEED_BYTES}-byte Ed25519 seed, found {len(seed)} bytes")
    return seed


def format_seed(seed: bytes) -> str:
    """The key file's text for a seed: standard base64 and a newline."""
    return base64.b64encode(seed).decode("ascii") + "\n"


def verify_signature(public_key_b64: str, data: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid Ed25519 signature of ``data`` by the key. Never raises."""
    try:
        public = _b64decode(public_key_b64)
        signature = _b64decode(signature_b64)
        if len(public) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
            return False
        if not isinstance(data, bytes | bytearray | memoryview):
            return False
        VerifyKey(public).verify(bytes(data), signature)
        return True
    except (BadSignatureError, CryptoError, binascii.Error, ValueError, TypeError, AttributeError):
        return False


def verification_code(signature_b64: str) -> str:
    """The short code read out on calls and printed in every SMS and email, e.g. ``K7Q-29D``.

    The first 30 bits of SHA-256 over the signature's raw 64 bytes, as 6 Crockford base32 characters
    (digits and upper-case letters without I, L, O, U), grouped 3-3 with a hyphen. Deterministic: anyone
    with the signature gets the same code. Raises ValueError if ``signature_b64`` is not base64.
    """
    try:
        raw = _b64decode(signature_b64)
    except (binascii.Error, ValueError, UnicodeEncodeError) as error:
        raise ValueError("signature is not base64") from error
    bits = int.from_bytes(hashlib.sha256(raw).digest()[:4], "big") >> (32 - 5 * CODE_CHARS)
    chars = "".join(CROCKFORD[(bits >> (5 * (CODE_CHARS - 1 - i))) & 31] for i in range(CODE_CHARS))
    return f"{chars[:3]}-{chars[3:]}"
