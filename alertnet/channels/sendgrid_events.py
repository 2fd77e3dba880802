"""What SendGrid sends the hub: the signed Event Webhook (ECDSA), read into receipts per delivery.

SendGrid's event names live here, next to the code that sends to SendGrid. A batch of events is verified
as a whole (signature over timestamp + raw body, and a fresh timestamp) before anything is read from it.
"""

from __future__ import annotations

import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sendgrid.helpers.eventwebhook import EventWebhook

from alertnet.domain.deliveries import DeliveryState
from alertnet.domain.receipts import ACCEPTED, DELIVERED, Receipt, failed, with_reason
from alertnet.domain.subscriptions import ProblemKind, classify_event

EVENT_MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class AddressEvent:
    event_id: str  # SendGrid's sg_event_id: the same event retried is counted once
    email: str
    kind: ProblemKind | None  # None: delivered
    reason: str


EMAIL_EVENT: dict[str, Receipt] = {
    "processed": ACCEPTED,
    "deferred": ACCEPTED,
    "delivered": DELIVERED,
    "bounce": failed("bounce"),
    "dropped": failed("dropped"),
}


def email_receipt(event: str, reason: str = "") -> Receipt | None:
    receipt = EMAIL_EVENT.get(event.lower())
    if receipt is not None and reason and receipt.to is DeliveryState.FAILED:
        return with_reason(receipt, f"{receipt.reason}: {reason}")
    return receipt


class EventsRefused(ValueError):
    """The request is not a readable batch of events (the message says why, naming the field)."""

    def __init__(self, message: str, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.error = error


class SendGridEvents:
    """Verifies and reads Event Webhook batches. `public_key` returns the verification key SendGrid shows
    (base64 DER); it is asked at each batch until it has one, so a key published later is picked up."""

    def __init__(self, public_key: Callable[[], str]) -> None:
        self._public_key = public_key
        self._verifier: EventWebhook | None = None

    def _webhook(self) -> EventWebhook | None:
        if self._verifier is None:
            key = self._public_key()
            if key:
                self._verifier = EventWebhook(key)
        return self._verifier

    def verify(self, body: bytes, signature: str, timestamp: str, *, now: float | None = None) -> bool:
        """True when the signature over timestamp + body holds and the timestamp is fresh."""
        now = time.time() if now is None else now
        fresh = (
            timestamp.isascii()
            and timestamp.isdigit()
            and abs(now - int(timestamp[:20])) <= EVENT_MAX_AGE_SECONDS
        )
        # No key (sendgrid.event_public_key unset) means nothing can be verified: refuse.
        verifier = self._webhook() if fresh and signature else None
        if verifier is None or not verifier.public_key:
            return False
        try:
            return bool(verifier.verify_signature(body.decode("utf-8"), signature, timestamp))
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return False

    @staticmethod
    def read(body: bytes) -> list[Any]:
        """A verified batch's events, read once. Raises EventsRefused on a bad body."""
        try:
            events = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise EventsRefused("body: not valid JSON", "invalid_json") from None
        if not isinstance(events, list):
            raise EventsRefused("body: must be a JSON array of events")
        return events

    @staticmethod
    def receipts(events: list[Any]) -> dict[str, tuple[Receipt, str]]:
        """Receipts by delivery id: (receipt, SendGrid message id)."""
        receipts: dict[str, tuple[Receipt, str]] = {}
        for event in events:
            if not isinstance(event, dict):
                continue
            did = event.get("delivery_id")
            receipt = email_receipt(str(event.get("event", "")), str(event.get("reason", "")))
            if isinstance(did, str) and receipt is not None:
                previous = receipts.get(did)
                # Keep the furthest-along event of a batch (delivered beats processed).
                if previous is None or _rank(receipt) >= _rank(previous[0]):
                    receipts[did] = (receipt, str(event.get("sg_message_id", "")).split(".")[0])
        return receipts


def address_events(events: list[Any]) -> list[AddressEvent]:
    """What each event of a batch says about its address: a spam report, a hard bounce, a soft failure
    (blocked, deferred), or a delivery (kind None, which ends a run of soft failures)."""
    found: list[AddressEvent] = []
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("email"), str):
            continue
        name = str(event.get("event", "")).lower()
        kind = classify_event(name, str(event.get("type", "")))
        if kind is None and name != "delivered":
            continue
        reason = str(event.get("reason") or event.get("response") or name)
        found.append(AddressEvent(str(event.get("sg_event_id", "")), event["email"], kind, reason))
    return found


def _rank(receipt: Receipt) -> int:
    return 1 if receipt.to is DeliveryState.SENT else 2
