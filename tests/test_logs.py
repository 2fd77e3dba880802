import json
import logging

import pytest
import structlog

from alertnet.logs import configure_logging, mask_text


def test_phone_numbers_and_emails_are_masked_in_text() -> None:
    masked = mask_text("call +15735551234 or (573) 555-1234, mail jane.doe@columbia.k12.example.org")
    assert "5551234" not in masked and "555-1234" not in masked
    assert "jane.doe" not in masked
    assert masked.endswith("j***@columbia.k12.example.org")
    assert mask_text("sent 2026-11-22T10:00:00Z id 01JABCDEF") == "sent 2026-11-22T10:00:00Z id 01JABCDEF"


def test_log_records_never_carry_full_numbers_or_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    try:
        structlog.get_logger("t").info("sending", to="+15735551234", auth_token="hunter2", note="x@y.org")
        logging.getLogger("other.library").warning("posting To=+15735559876")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    ours, theirs = lines
    assert ours["to"].endswith("34") and "5551234" not in ours["to"]
    assert ours["auth_token"] == "[redacted]"
    assert "9876" not in theirs["event"][:-2] and theirs["event"].endswith("76")
