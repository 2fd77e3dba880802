"""Provider receipts (status callbacks, email events) mapped onto delivery states. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from alertnet.deliveries import DeliveryState

S = DeliveryState
# A receipt is proof the provider has the message, so it may settle a claim whose worker died (SENDING).
FROM_ACCEPTED = frozenset({S.SENDING, S.SENT})


@dataclass(frozen=True)
class Receipt:
    to: DeliveryState
    allowed_from: frozenset[DeliveryState]
    reason: str = ""


SMS_STATUS: dict[str, Receipt] = {
    "accepted": Receipt(S.SENT, frozenset({S.SENDING})),
    "queued": Receipt(S.SENT, frozenset({S.SENDING})),
    "sending": Receipt(S.SENT, frozenset({S.SENDING})),
    "sent": Receipt(S.SENT, frozenset({S.SENDING})),
    "delivered": Receipt(S.DELIVERED, FROM_ACCEPTED),
    "undelivered": Receipt(S.FAILED, FROM_ACCEPTED, "undelivered"),
    "failed": Receipt(S.FAILED, FROM_ACCEPTED, "failed"),
}

CALL_STATUS: dict[str, Receipt] = {
    "queued": Receipt(S.SENT, frozenset({S.SENDING})),
    "initiated": Receipt(S.SENT, frozenset({S.SENDING})),
    "ringing": Receipt(S.SENT, frozenset({S.SENDING})),
    "in-progress": Receipt(S.SENT, frozenset({S.SENDING})),
    "answered": Receipt(S.SENT, frozenset({S.SENDING})),
    "completed": Receipt(S.DELIVERED, FROM_ACCEPTED),
    "busy": Receipt(S.FAILED, FROM_ACCEPTED, "busy"),
    "no-answer": Receipt(S.FAILED, FROM_ACCEPTED, "no-answer"),
    "failed": Receipt(S.FAILED, FROM_ACCEPTED, "failed"),
    "canceled": Receipt(S.FAILED, FROM_ACCEPTED, "canceled"),
}

EMAIL_EVENT: dict[str, Receipt] = {
    "processed": Receipt(S.SENT, frozenset({S.SENDING})),
    "deferred": Receipt(S.SENT, frozenset({S.SENDING})),
    "delivered": Receipt(S.DELIVERED, FROM_ACCEPTED),
    "bounce": Receipt(S.FAILED, FROM_ACCEPTED, "bounce"),
    "dropped": Receipt(S.FAILED, FROM_ACCEPTED, "dropped"),
}


def sms_receipt(status: str, error_code: str = "") -> Receipt | None:
    receipt = SMS_STATUS.get(status.lower())
    if receipt and error_code and receipt.to is S.FAILED:
        return Receipt(receipt.to, receipt.allowed_from, f"{receipt.reason} (error {error_code})")
    return receipt


def call_receipt(status: str, answered_by: str = "") -> Receipt | None:
    receipt = CALL_STATUS.get(status.lower())
    if receipt and receipt.to is S.DELIVERED and answered_by:
        # A machine answering is recorded as such: escalation treats voicemail differently from a person.
        return Receipt(receipt.to, receipt.allowed_from, f"answered_by={answered_by}")
    return receipt


def email_receipt(event: str, reason: str = "") -> Receipt | None:
    receipt = EMAIL_EVENT.get(event.lower())
    if receipt and reason and receipt.to is S.FAILED:
        return Receipt(receipt.to, receipt.allowed_from, f"{receipt.reason}: {reason}"[:200])
    return receipt
