"""The simulator signs SendGrid events the way SendGrid does; the SDK's own verifier accepts them."""

from pathlib import Path

from sendgrid.helpers.eventwebhook import EventWebhook

from alertnet.event_keys import load_or_create_private_key, public_key_b64, sign_events


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
