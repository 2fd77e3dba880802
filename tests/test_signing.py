"""Ed25519 signing: key file lifecycle, sign/verify, and the verification code."""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from pathlib import Path

import pytest

from alertnet.domain.signing import AlertSigner, SigningKeyError, verification_code, verify_signature
from alertnet.store.files import load_or_create_signer

DATA = b'{"event":"Lockdown","headline":"Armed intruder reported"}'


def test_key_file_is_created_0600_and_reloaded_identically(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "nested" / "signing.key"
    first = load_or_create_signer(path)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["signing.key"]  # no temporary files left
    content = path.read_bytes()

    second = load_or_create_signer(path)
    assert path.read_bytes() == content
    assert second.public_key_b64 == first.public_key_b64
    assert second.key_id == first.key_id
    assert verify_signature(first.public_key_b64, DATA, second.sign(DATA))


def test_key_id_is_short_and_derived_from_the_public_key(tmp_path: Path) -> None:
    signer = load_or_create_signer(tmp_path / "k")
    public = base64.b64decode(signer.public_key_b64)
    assert len(public) == 32
    assert signer.key_id == hashlib.sha256(public).hexdigest()[:16]
    assert load_or_create_signer(tmp_path / "other").key_id != signer.key_id


def test_corrupt_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.write_text("not a key\n")
    with pytest.raises(SigningKeyError):
        load_or_create_signer(path)
    path.write_text(base64.b64encode(b"short").decode())
    with pytest.raises(SigningKeyError):
        load_or_create_signer(path)
    assert path.read_text() == base64.b64encode(b"short").decode()


def test_sign_verify_round_trip() -> None:
    signer = AlertSigner.generate()
    signature = signer.sign(DATA)
    assert len(base64.b64decode(signature, validate=True)) == 64
    assert signature.endswith("==")  # standard base64 with padding
    assert verify_signature(signer.public_key_b64, DATA, signature)
    assert signer.sign(DATA) == signature  # Ed25519 is deterministic


def test_tampered_data_or_signature_or_other_key_fails() -> None:
    signer = AlertSigner.generate()
    signature = signer.sign(DATA)
    assert not verify_signature(signer.public_key_b64, DATA.replace(b"Lockdown", b"All clear"), signature)
    assert not verify_signature(signer.public_key_b64, DATA + b" ", signature)
    raw = bytearray(base64.b64decode(signature))
    raw[0] ^= 1
    assert not verify_signature(signer.public_key_b64, DATA, base64.b64encode(bytes(raw)).decode())
    assert not verify_signature(AlertSigner.generate().public_key_b64, DATA, signature)


@pytest.mark.parametrize(
    ("public_key", "data", "signature"),
    [
        ("", DATA, ""),
        ("not base64!!", DATA, "AAAA"),
        (base64.b64encode(b"x" * 31).decode(), DATA, base64.b64encode(b"y" * 64).decode()),
        (base64.b64encode(b"x" * 32).decode(), DATA, base64.b64encode(b"y" * 63).decode()),
        (base64.b64encode(b"x" * 32).decode(), DATA, "é" * 88),
        (None, DATA, None),
        (base64.b64encode(b"x" * 32).decode(), "text, not bytes", base64.b64encode(b"y" * 64).decode()),
        (base64.b64encode(bytes(32)).decode(), DATA, base64.b64encode(bytes(64)).decode()),
    ],
)
def test_garbage_never_raises_and_is_false(public_key: object, data: object, signature: object) -> None:
    assert verify_signature(public_key, data, signature) is False  # type: ignore[arg-type]


def test_verification_code_is_deterministic_and_formatted() -> None:
    signer = AlertSigner.generate()
    signature = signer.sign(DATA)
    code = verification_code(signature)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{3}-[0-9A-HJKMNP-TV-Z]{3}", code)
    assert verification_code(signature) == code
    assert verification_code(signer.sign(b"other")) != code


def test_verification_code_known_value() -> None:
    # sha256(64 zero bytes) starts f5a5fd42: its first 30 bits in Crockford base32 are Y, P, J, Z, T, G.
    assert verification_code(base64.b64encode(bytes(64)).decode()) == "YPJ-ZTG"


def test_verification_code_rejects_non_base64() -> None:
    with pytest.raises(ValueError):
        verification_code("not base64!!")
