"""Receipts: what a provider reports about a message, as the delivery state it moves to. Pure.

Each provider's status names are mapped onto receipts by its own adapter in `alertnet.channels`.
"""

from __future__ import annotations

from dataclasses import dataclass

from alertnet.domain.deliveries import DeliveryState

S = DeliveryState
# A receipt is proof the provider has the message, so it may settle a claim whose worker died (SENDING).
FROM_ACCEPTED = frozenset({S.SENDING, S.SENT})


@dataclass(frozen=True)
class Receipt:
    to: DeliveryState
    allowed_from: frozenset[DeliveryState]
    reason: str = ""


ACCEPTED = Receipt(S.SENT, frozenset({S.SENDING}))
"""The provider has it (queued, sending, ringing, ...): no news beyond what a send already records."""
DELIVERED = Receipt(S.DELIVERED, FROM_ACCEPTED)


def failed(reason: str) -> Receipt:
    """The provider reports the message did not arrive, and why."""
    return Receipt(S.FAILED, FROM_ACCEPTED, reason)


def with_reason(receipt: Receipt | None, reason: str) -> Receipt | None:
    """The same receipt with a more specific reason (kept to 200 characters)."""
    if receipt is None or not reason:
        return receipt
    return Receipt(receipt.to, receipt.allowed_from, reason[:200])
