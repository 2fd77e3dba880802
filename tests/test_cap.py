"""CAP 1.2 without the stack: the document an alert becomes (valid against the OASIS schema, signed so that
xmlsec1 and signxml verify it from the document alone; a changed headline fails), references of updates
and cancellations, the mapping of a CAP document onto an alert request, hostile XML refused, the signing
identity made once, the Atom feed, and the `public` flag of an alert request."""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLVerifier

from alertnet.content.cap import FeedEntry, atom_feed, cap_alert, category_for
from alertnet.domain.alert_request import AlertValidationError, example_alert_request, parse_alert_request
from alertnet.domain.alerts import Alert, CapOrigin, MsgType, Status, canonical_bytes, new_alert
from alertnet.domain.cap_in import cap_request, geocode_index, origin_key, parse_references
from alertnet.services.cap_xml import (
    CapInvalid,
    CapSigner,
    CapUnreadable,
    parse_untrusted,
    read_message,
    schema,
    validate,
)
from alertnet.settings import load_settings
from alertnet.store.cap_keys import (
    CapKeyError,
    checked,
    load_identity,
    load_or_create_identity,
    new_identity,
)

NOW = datetime(2026, 3, 4, 15, 9, 26, tzinfo=UTC)
DS = "{http://www.w3.org/2000/09/xmldsig#}"
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
INDEX = geocode_index({"Boone": ["FIPS6:029019", "SAME:029019"], "Cole": ["FIPS6:029051"]})
IDENTITY = new_identity("dps.mo.gov CAP signing", "Missouri Department of Public Safety")


def cap_xml(
    *,
    identifier: str = "MO-DPS-2026-0001",
    sender: str = "dps.mo.gov",
    sent: str = "2026-03-04T09:09:26-06:00",
    status: str = "Exercise",
    msg_type: str = "Alert",
    scope: str = "Restricted",
    references: str = "",
    geocodes: tuple[tuple[str, str], ...] = (("FIPS6", "029019"),),
    headline: str = "Lockdown drill at Boone County schools",
    expires: str = "",
    extra: str = "",
) -> bytes:
    """A CAP 1.2 document as another agency's system would post it."""
    codes = "".join(
        f"<geocode><valueName>{name}</valueName><value>{value}</value></geocode>" for name, value in geocodes
    )
    refs = f"<references>{references}</references>" if references else ""
    expiry = f"<expires>{expires}</expires>" if expires else ""
    restriction = "<restriction>officials</restriction>" if scope == "Restricted" else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{extra}\n'
        f'<alert xmlns="{CAP_NS}"><identifier>{identifier}</identifier><sender>{sender}</sender>'
        f"<sent>{sent}</sent><status>{status}</status><msgType>{msg_type}</msgType><scope>{scope}</scope>"
        f"{restriction}{refs}<info><language>en-US</language><category>Security</category>"
        f"<event>Lockdown</event><urgency>Immediate</urgency><severity>Severe</severity>"
        f"<certainty>Observed</certainty>{expiry}<headline>{headline}</headline>"
        f"<description>Police report a person with a weapon\n\tnear the campus.</description>"
        f"<instruction>Lock doors.</instruction>"
        f"<area><areaDesc>Boone County</areaDesc>{codes}</area></info></alert>"
    ).encode()


def alert(**changes: Any) -> Alert:
    payload = {**example_alert_request(), "status": "Exercise", "audience": {"counties": ["Boone", "Cole"]}}
    made = new_alert(parse_alert_request(payload, now=NOW), sender="dir-ada", now=NOW)
    return replace(made, **changes)


def signed(a: Alert, **kwargs: Any) -> bytes:
    root = cap_alert(
        a, sender="dps.mo.gov", sender_name="Missouri DPS", web=f"https://hub/a/{a.id}", **kwargs
    )
    validate(root)
    return CapSigner(IDENTITY).sign(root)


def embedded_certificate(document: bytes) -> bytes:
    """The certificate in the document's KeyInfo, as PEM."""
    text = etree.fromstring(document).findtext(f".//{DS}X509Certificate") or ""
    der = base64.b64decode("".join(text.split()))
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def xmlsec1(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("xmlsec1")
    if tool is None:
        pytest.skip("xmlsec1 is not installed (Debian package xmlsec1; `make tools` installs it as root)")
    return subprocess.run(
        [tool, "--verify", "--enabled-key-data", "x509", *args, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


# ------------------------------------------------------------------------------------------------ out


def test_an_alert_becomes_a_schema_valid_cap_document_signed_with_its_certificate(tmp_path: Path) -> None:
    a = alert()
    document = signed(a, geocodes=[("FIPS6", "029019")])
    root = etree.fromstring(document)
    assert schema().validate(root), schema().error_log
    assert root.findtext(f"{{{CAP_NS}}}status") == "Exercise"  # Exercise stays Exercise
    assert root.findtext(f"{{{CAP_NS}}}identifier") == a.id
    assert root.findtext(f"{{{CAP_NS}}}scope") == "Restricted"
    info = root.find(f"{{{CAP_NS}}}info")
    assert info is not None
    assert info.findtext(f"{{{CAP_NS}}}category") == "Security"
    assert info.findtext(f"{{{CAP_NS}}}headline") == a.headline
    assert "Boone" in (info.findtext(f"{{{CAP_NS}}}area/{{{CAP_NS}}}areaDesc") or "")
    signature = root[-1]
    assert signature.tag == f"{DS}Signature"
    methods = {e.tag.removeprefix(DS): e.get("Algorithm") for e in signature.iter() if e.get("Algorithm")}
    assert methods["SignatureMethod"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert methods["CanonicalizationMethod"] == "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert methods["DigestMethod"] == "http://www.w3.org/2001/04/xmlenc#sha256"
    cert = embedded_certificate(document)
    assert cert == IDENTITY.cert_pem
    # signxml verifies it with the certificate the document carries
    XMLVerifier().verify(document, x509_cert=cert.decode())
    tampered = document.replace(a.headline.encode(), b"Lockdown lifted")
    with pytest.raises(Exception, match=r"[Ss]ignature|[Dd]igest"):
        XMLVerifier().verify(tampered, x509_cert=cert.decode())


def test_xmlsec1_verifies_the_document_with_nothing_but_the_document(tmp_path: Path) -> None:
    """`--enabled-key-data x509`: the only key xmlsec1 may use is the one in KeyInfo's X509Certificate (no
    key file is given); `--insecure` skips the chain check, the certificate being self-signed. Trusting
    the certificate itself (pinned) is the second call: the certificate taken from the document."""
    a = alert()
    document = signed(a)
    path = tmp_path / "alert.xml"
    path.write_bytes(document)
    result = xmlsec1(path, "--insecure")
    assert result.returncode == 0 and "OK" in result.stdout + result.stderr, result.stderr
    pem = tmp_path / "embedded.pem"
    pem.write_bytes(embedded_certificate(document))
    assert xmlsec1(path, "--trusted-pem", str(pem)).returncode == 0
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(document.replace(a.headline.encode(), b"Lockdown lifted"))
    result = xmlsec1(tampered, "--insecure")
    assert result.returncode != 0 and "failed" in (result.stdout + result.stderr).lower()


def test_an_ecdsa_key_signs_with_ecdsa_sha256(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ecdsa test")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    identity = checked(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert.public_bytes(serialization.Encoding.PEM),
        "test",
    )
    document = CapSigner(identity).sign(
        cap_alert(alert(), sender="s", sender_name="n", web="https://hub/a/x")
    )
    assert b"xmldsig-more#ecdsa-sha256" in document
    XMLVerifier().verify(document, x509_cert=identity.cert_pem.decode())
    path = tmp_path / "ecdsa.xml"
    path.write_bytes(document)
    assert xmlsec1(path, "--insecure").returncode == 0


def test_updates_and_cancels_carry_references_and_a_public_alert_is_public() -> None:
    original = alert()
    update = alert(msg_type=MsgType.CANCEL, references=(original.id,), public=True)
    document = signed(update, references=[("dps.mo.gov", original.id, "2026-03-04T15:09:26-00:00")])
    root = etree.fromstring(document)
    assert root.findtext(f"{{{CAP_NS}}}msgType") == "Cancel"
    assert root.findtext(f"{{{CAP_NS}}}references") == f"dps.mo.gov,{original.id},2026-03-04T15:09:26-00:00"
    assert root.findtext(f"{{{CAP_NS}}}scope") == "Public"
    assert root.find(f"{{{CAP_NS}}}restriction") is None


def test_an_imported_alert_names_its_origin_and_keeps_test_status() -> None:
    a = alert(status=Status.TEST, cap=CapOrigin("ema.example.gov", "X-1", "2026-03-04T09:00:00-06:00"))
    root = etree.fromstring(signed(a))
    assert root.findtext(f"{{{CAP_NS}}}status") == "Test"
    assert "ema.example.gov,X-1,2026-03-04T09:00:00-06:00" in (root.findtext(f"{{{CAP_NS}}}note") or "")


def test_categories_by_event() -> None:
    assert category_for("Lockdown") == "Security"
    assert category_for("Bomb Threat") == "Security"
    assert category_for("Severe Weather") == "Met"
    assert category_for("Tornado Warning") == "Met"
    assert category_for("Evacuation") == "Safety"
    assert category_for("All Clear") == "Safety"


def test_the_atom_feed_links_each_entry_to_its_cap_document() -> None:
    a, b = alert(public=True), alert(public=True, id="01JNJ0000000000000000000AA")
    body = atom_feed(
        [
            FeedEntry(b, "https://hub/v1/alerts/B/cap", "https://hub/a/B"),
            FeedEntry(a, "https://hub/cap/A", "p"),
        ],
        feed_url="https://hub/v1/alerts.atom",
        title="Public alerts",
        author="DPS",
        updated=NOW,
    )
    feed = etree.fromstring(body)
    atom = "{http://www.w3.org/2005/Atom}"
    entries = feed.findall(f"{atom}entry")
    assert [e.findtext(f"{atom}id") for e in entries] == ["https://hub/v1/alerts/B/cap", "https://hub/cap/A"]
    links = entries[0].findall(f"{atom}link")
    assert any(
        link.get("type") == "application/cap+xml" and link.get("href") == "https://hub/v1/alerts/B/cap"
        for link in links
    )


# ------------------------------------------------------------------------------------------------- in


def message(body: bytes) -> Any:
    root = parse_untrusted(body)
    validate(root)
    return read_message(root)


def test_a_cap_document_maps_onto_an_alert_request() -> None:
    request = cap_request(
        message(cap_xml(geocodes=(("FIPS6", "029019"), ("SAME", "029019"), ("fips6", "029051")))),
        index=INDEX,
        channels=["sms", "email"],
        resolved={},
    )
    assert request["status"] == "Exercise" and request["msgType"] == "Alert"
    assert request["audience"] == {"counties": ["Boone", "Cole"]}
    assert request["description"] == "Police report a person with a weapon\n near the campus."
    assert request["public"] is False and request["channels"] == ["sms", "email"]
    assert "references" not in request
    draft = parse_alert_request(request, now=NOW)  # the JSON path accepts it as it is
    assert draft.severity.value == "Severe" and draft.event == "Lockdown"
    assert cap_request(message(cap_xml(scope="Public")), index=INDEX, channels=["sms"], resolved={})["public"]


def test_refusals_name_the_geocode_and_the_statuses_this_network_does_not_send() -> None:
    with pytest.raises(AlertValidationError) as refused:
        cap_request(
            message(cap_xml(geocodes=(("FIPS6", "029999"),), status="Draft")), index=INDEX, channels=["sms"],
            resolved={},
        )  # fmt: skip
    reasons = {e.field: e.reason for e in refused.value.errors}
    assert "FIPS6 029999" in reasons["info.area.geocode"]
    assert "Draft" in reasons["status"]
    with pytest.raises(AlertValidationError, match="is required"):
        cap_request(message(cap_xml(geocodes=())), index=INDEX, channels=["sms"], resolved={})


def test_a_follow_up_resolves_its_references_and_may_keep_the_original_audience() -> None:
    ref = "dps.mo.gov,01JNJ0000000000000000000AA,2026-03-04T15:09:26-00:00"
    triples, errors = parse_references(ref + " broken")
    assert triples == [tuple(ref.split(","))] and errors and "broken" in errors[0].reason
    body = cap_xml(msg_type="Cancel", references=ref, geocodes=())
    request = cap_request(
        message(body), index=INDEX, channels=["sms"], resolved={triples[0]: "01JNJ0000000000000000000AA"},
        original_audience={"statewide": True},
    )  # fmt: skip
    assert request["references"] == ["01JNJ0000000000000000000AA"]
    assert request["audience"] == {"statewide": True}
    with pytest.raises(AlertValidationError, match="names no alert"):
        cap_request(message(body), index=INDEX, channels=["sms"], resolved={})


def test_the_same_message_has_one_key_however_its_sent_offset_is_written() -> None:
    assert origin_key("s", "i", "2026-03-04T15:00:00-00:00") == origin_key(
        "s", "i", "2026-03-04T09:00:00-06:00"
    )
    assert origin_key("s", "i", "2026-03-04T15:00:00+00:00") != origin_key(
        "s", "j", "2026-03-04T15:00:00+00:00"
    )


def test_a_document_the_schema_refuses_gets_the_schemas_message() -> None:
    with pytest.raises(CapInvalid, match="status"):
        message(cap_xml(status="Bogus"))
    with pytest.raises(CapInvalid, match="No matching global declaration"):
        message(b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"><identifier>x</identifier></alert>')


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""


@pytest.mark.parametrize("body", [XXE, LAUGHS, XXE.decode().encode("utf-16"), b"<alert", b""])
def test_hostile_or_broken_xml_is_refused_before_anything_is_read(body: bytes) -> None:
    with pytest.raises(CapUnreadable):
        parse_untrusted(body)


# -------------------------------------------------------------------------------------- configuration


def test_the_signing_identity_is_made_once_and_a_configured_one_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "data" / "cap-signing.pem"
    first = load_or_create_identity(path, common_name="dps.mo.gov CAP signing", organization="DPS")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert load_or_create_identity(path, common_name="other", organization="other") == first
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(IDENTITY.cert_pem)
    key.write_bytes(first.key_pem)
    with pytest.raises(CapKeyError, match="not for this key"):
        load_identity(cert, key)
    key.write_bytes(IDENTITY.key_pem)
    assert load_identity(cert, key) == IDENTITY
    assert len(IDENTITY.fingerprint) == 64


def test_the_configured_geocodes_map_each_code_to_one_county() -> None:
    index = geocode_index(load_settings(env={}).cap.geocodes)
    assert index[("FIPS6", "029019")] == "Boone" and index[("SAME", "029510")] == "St. Louis City"
    assert len({county for county in index.values()}) == 115  # Missouri's counties and St. Louis City
    with pytest.raises(ValueError, match="both"):
        geocode_index({"Boone": ["FIPS6:029019"], "Cole": ["FIPS6:029019"]})


# --------------------------------------------------------------------------------- the public flag


def test_public_is_a_boolean_that_defaults_to_false_and_is_signed_only_when_set() -> None:
    plain = new_alert(parse_alert_request(example_alert_request(), now=NOW), sender="d", now=NOW)
    assert plain.public is False and "public" not in plain.to_dict() and "cap" not in plain.to_dict()
    with pytest.raises(AlertValidationError, match="public: must be true or false"):
        parse_alert_request({**example_alert_request(), "public": "yes"}, now=NOW)
    public = new_alert(
        parse_alert_request({**example_alert_request(), "public": True}, now=NOW), sender="d", now=NOW
    )
    assert public.to_dict()["public"] is True
    assert Alert.from_dict(public.to_dict()) == public
    imported = replace(public, cap=CapOrigin("a", "b", "2026-03-04T09:00:00-06:00"))
    assert Alert.from_dict(imported.to_dict()) == imported
    assert canonical_bytes(imported) != canonical_bytes(public) != canonical_bytes(plain)
