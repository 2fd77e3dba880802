"""The key and X.509 certificate that sign the hub's CAP documents (XML-DSig), kept beside the Ed25519 key.

By default both live in one file of the data folder (``cap-signing.pem``: the PKCS#8 private key, then the
certificate), created on first start: an RSA 3072 key and a self-signed certificate for ``[cap] sender``,
valid ten years. One file, written once by `alertnet.store.files.create_once` (0600, first writer wins), so
two processes starting at once cannot end up with a key from one and a certificate from the other. A state
with a certificate of its own names it and its key in ``[cap] certificate_file`` and ``key_file``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from alertnet.store.files import create_once

RSA_BITS = 3072
VALID_DAYS = 3650
PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----\r?\n?", re.DOTALL)


class CapKeyError(Exception):
    """The CAP signing key or certificate cannot be used (the message names the file and why)."""


@dataclass(frozen=True)
class CapIdentity:
    """The CAP signing key and certificate, PEM."""

    key_pem: bytes
    cert_pem: bytes

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate (DER), hex: how a receiver pins the hub's certificate."""
        der = x509.load_pem_x509_certificate(self.cert_pem).public_bytes(serialization.Encoding.DER)
        return hashlib.sha256(der).hexdigest()


def new_identity(common_name: str, organization: str, *, now: datetime | None = None) -> CapIdentity:
    """A fresh RSA key and its self-signed certificate (digital signature, not a CA)."""
    now = now or datetime.now(UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "AlertNet CAP signing"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64] or "AlertNet"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return CapIdentity(key_pem=key_pem, cert_pem=cert.public_bytes(serialization.Encoding.PEM))


def _blocks(data: bytes, kinds: tuple[bytes, ...]) -> list[bytes]:
    return [m.group(0) for m in PEM_BLOCK.finditer(data) if m.group(1) in kinds]


def checked(key_pem: bytes, cert_pem: bytes, where: str) -> CapIdentity:
    """The identity if the key is an RSA or EC private key and the certificate is for it."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as error:
        raise CapKeyError(f"{where}: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CapKeyError(f"{where}: the key must be RSA or ECDSA")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    mine = key.public_key().public_bytes(serialization.Encoding.PEM, public)
    if cert.public_key().public_bytes(serialization.Encoding.PEM, public) != mine:
        raise CapKeyError(f"{where}: the certificate is not for this key")
    return CapIdentity(key_pem=key_pem, cert_pem=cert_pem)


def load_or_create_identity(path: Path, *, common_name: str, organization: str) -> CapIdentity:
    """The hub's own CAP signing identity from its file; created on first start."""
    path = Path(path)
    if not path.exists():
        fresh = new_identity(common_name, organization)
        create_once(path, fresh.key_pem + fresh.cert_pem)
    data = path.read_bytes()
    keys = _blocks(data, (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY"))
    certs = _blocks(data, (b"CERTIFICATE",))
    if not keys or not certs:
        raise CapKeyError(f"{path}: expected a PEM private key and a PEM certificate")
    return checked(keys[0], certs[0], str(path))


def load_identity(certificate_file: Path, key_file: Path) -> CapIdentity:
    """A configured certificate and key (PEM files)."""
    try:
        cert_pem, key_pem = Path(certificate_file).read_bytes(), Path(key_file).read_bytes()
    except OSError as error:
        raise CapKeyError(f"[cap] certificate_file/key_file: {error}") from None
    certs = _blocks(cert_pem, (b"CERTIFICATE",))
    if not certs:
        raise CapKeyError(f"{certificate_file}: no PEM certificate")
    return checked(key_pem, certs[0], f"{certificate_file}, {key_file}")
