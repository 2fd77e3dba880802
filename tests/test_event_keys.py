"""The simulator signs SendGrid events the way SendGrid does; the SDK's own verifier accepts them."""

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from alertnet.sim.event_keys import (
    SIM_EVENT_KEY_FILE,
    load_or_create_private_key,
    public_key_b64,
    public_key_path,
    publish_event_key,
    sign_events,
    write_public_key,
)


def test_signed_events_verify_with_the_sendgrid_helper(tmp_path: Path) -> None:
    key = load_or_create_private_key(tmp_path / "k.pem")
    assert load_or_create_private_key(tmp_path / "k.pem").private_numbers() == key.private_numbers()
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    payload = b'[{"event":"delivered","email":"a@b.org"}]'
    signature = sign_events(key, "1700000000", payload)
    verifier = EventWebhook(public_key_b64(key))
    assert verifier.verify_signature(payload.decode(), signature, "1700000000")
    assert not verifier.verify_signature(
        payload.decode().replace("delivered", "bounce"), signature, "1700000000"
    )
    assert not verifier.verify_signature(payload.decode(), signature, "1700000001")


def test_public_key_is_written_next_to_the_private_key(tmp_path: Path) -> None:
    private = tmp_path / "data" / SIM_EVENT_KEY_FILE
    assert public_key_path(private) == tmp_path / "data" / "sim-sendgrid-event-key.pub"
    key = publish_event_key(private)
    assert load_or_create_private_key(private).private_numbers() == key.private_numbers()
    published = public_key_path(private).read_text()
    assert published == public_key_b64(key) + "\n"
    assert published.startswith("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")  # P-256 SubjectPublicKeyInfo, DER
    other = ec.generate_private_key(ec.SECP256R1())
    write_public_key(other, public_key_path(private))  # replaced, not appended to
    assert public_key_path(private).read_text() == public_key_b64(other) + "\n"
    assert sorted(p.name for p in private.parent.iterdir()) == [
        "sim-sendgrid-event-key.pem",
        "sim-sendgrid-event-key.pub",
    ]
    signature = sign_events(other, "1700000000", b"[]")
    assert EventWebhook(public_key_path(private).read_text().strip()).verify_signature(
        "[]", signature, "1700000000"
    )
