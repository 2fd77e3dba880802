"""CAP 1.2 XML: safe parsing, validation against the OASIS schema, reading, and the XML signature.

- Parsing takes no chances with a document from outside: a ``<!DOCTYPE`` is refused before and after
  parsing (no DTD, so no entities: no external entity reads a file, no billion laughs), and lxml's parser
  runs with ``resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False`` besides.
- The schema is the OASIS ``CAP-v1.2.xsd`` shipped in ``alertnet/data`` (nothing is fetched at run time).
  It ends ``<alert>`` with ``<any namespace="http://www.w3.org/2000/09/xmldsig#" processContents="lax">``
  and imports no xmldsig schema, so a ``ds:Signature`` there is allowed and, lax, not itself validated:
  one schema checks a document with or without its signature.
- The signature is enveloped W3C XML-DSig by `signxml`: RSA-SHA256 (ECDSA-SHA256 for an EC key), SHA-256
  digest, exclusive canonicalization, the certificate in ``KeyInfo/X509Data``, so any XML-DSig tool
  verifies a document with nothing but the document (e.g. ``xmlsec1 --verify --enabled-key-data x509``;
  trusting the certificate is the receiver's choice: pin its fingerprint, `CapIdentity.fingerprint`).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner

from alertnet.domain.cap_in import CAP_NAMESPACE, CapArea, CapInfo, CapMessage
from alertnet.store.cap_keys import CapIdentity

CAP = f"{{{CAP_NAMESPACE}}}"
MAX_SCHEMA_ERRORS = 3


class CapUnreadable(Exception):
    """The body is not a well-formed XML document, or declares a DOCTYPE (refused: no DTDs, no entities)."""


class CapInvalid(Exception):
    """The document is not valid against the CAP 1.2 schema; the message is the schema's."""


@cache
def schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema, from the package."""
    source = (files("alertnet") / "data" / "CAP-v1.2.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(source, _parser()))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
    )


def parse_untrusted(body: bytes) -> etree._Element:
    """The document's root element; raises CapUnreadable for anything that is not plain, DTD-free XML."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise CapUnreadable("a DOCTYPE or ENTITY declaration is refused (no DTDs: CAP needs none)")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as error:
        raise CapUnreadable(f"not well-formed XML: {error}") from None
    docinfo: Any = root.getroottree().docinfo  # lxml-stubs lack DocInfo's DTD attributes
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise CapUnreadable("a DOCTYPE declaration is refused (no DTDs: CAP needs none)")
    return root


def validate(root: etree._Element) -> None:
    """Raises CapInvalid with the schema's own messages (at most `MAX_SCHEMA_ERRORS`)."""
    checker = schema()
    if checker.validate(root):
        return
    messages = [f"line {e.line}: {e.message}" for e in list(cast(Any, checker.error_log))[:MAX_SCHEMA_ERRORS]]
    raise CapInvalid("; ".join(messages) or "not valid")


def _text(parent: etree._Element, tag: str) -> str:
    return str(parent.findtext(CAP + tag, default="") or "")


def read_message(root: etree._Element) -> CapMessage:
    """The parts of a schema-valid ``<alert>`` the hub reads."""
    infos = []
    for info in root.iterfind(CAP + "info"):
        areas = tuple(
            CapArea(
                area_desc=_text(area, "areaDesc"),
                geocodes=tuple(
                    (_text(code, "valueName"), _text(code, "value"))
                    for code in area.iterfind(CAP + "geocode")
                ),
            )
            for area in info.iterfind(CAP + "area")
        )
        infos.append(
            CapInfo(
                language=_text(info, "language"),
                event=_text(info, "event"),
                urgency=_text(info, "urgency"),
                severity=_text(info, "severity"),
                certainty=_text(info, "certainty"),
                headline=_text(info, "headline"),
                description=_text(info, "description"),
                instruction=_text(info, "instruction"),
                expires=_text(info, "expires"),
                areas=areas,
            )
        )
    return CapMessage(
        identifier=_text(root, "identifier").strip(),
        sender=_text(root, "sender").strip(),
        sent=_text(root, "sent").strip(),
        status=_text(root, "status"),
        msg_type=_text(root, "msgType"),
        scope=_text(root, "scope"),
        references=_text(root, "references"),
        infos=tuple(infos),
    )


class CapSigner:
    """Signs CAP documents with the hub's key; the certificate goes into KeyInfo."""

    def __init__(self, identity: CapIdentity) -> None:
        self.identity = identity
        key = serialization.load_pem_private_key(identity.key_pem, password=None)
        ecdsa = isinstance(key, ec.EllipticCurvePrivateKey)
        self.algorithm = SignatureMethod.ECDSA_SHA256 if ecdsa else SignatureMethod.RSA_SHA256

    def sign(self, root: etree._Element) -> bytes:
        """The document with its enveloped signature, UTF-8 with an XML declaration."""
        signer = XMLSigner(  # one per document: signxml keeps per-call state on the signer (threads)
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=self.algorithm,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        signed = signer.sign(root, key=self.identity.key_pem, cert=self.identity.cert_pem.decode("ascii"))
        return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
