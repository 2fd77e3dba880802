"""Deliveries: one per (alert, official, channel), with states that are data, not log lines."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum


class DeliveryState(StrEnum):
    QUEUED = "queued"  # created, waiting for a worker
    SENDING = "sending"  # claimed by a worker; the provider may or may not have it yet
    RETRYING = "retrying"  # a transient failure; will be tried again
    SENT = "sent"  # the provider accepted it and gave an id
    DELIVERED = "delivered"  # the provider reports it reached the handset/mailbox/was answered
    FAILED = "failed"  # the provider reports it did not arrive (undelivered, bounce, no-answer, ...)
    PARKED = "parked"  # we gave up sending after retries or a permanent error; reason kept
    CANCELED = "canceled"  # not sent because the alert was cancelled first


FINAL_STATES = frozenset(
    {DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.PARKED, DeliveryState.CANCELED}
)
# States from which a worker may claim a delivery for sending.
CLAIMABLE_STATES = frozenset({DeliveryState.QUEUED, DeliveryState.RETRYING})


@dataclass(frozen=True)
class Delivery:
    """The stored record. `provider_id` is what makes a send idempotent: once set, it is never sent again."""

    state: DeliveryState
    attempts: int = 0
    provider_id: str | None = None
    reason: str | None = None
    updated: float = 0.0
    claimed: float | None = None
    unknown_since: float | None = None  # claim time of the first attempt whose outcome is unknown

    def to_json(self) -> str:
        data: dict[str, object] = {"s": self.state.value, "a": self.attempts, "t": self.updated}
        if self.provider_id:
            data["p"] = self.provider_id
        if self.reason:
            data["r"] = self.reason
        if self.claimed is not None:
            data["c"] = self.claimed
        if self.unknown_since is not None:
            data["u"] = self.unknown_since
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Delivery:
        data = json.loads(raw)
        return cls(
            state=DeliveryState(data["s"]),
            attempts=int(data.get("a", 0)),
            provider_id=data.get("p"),
            reason=data.get("r"),
            updated=float(data.get("t", 0.0)),
            claimed=data.get("c"),
            unknown_since=data.get("u"),
        )

    def with_state(self, state: DeliveryState, now: float, **changes: object) -> Delivery:
        return replace(self, state=state, updated=now, **changes)  # type: ignore[arg-type]


def delivery_id(alert_id: str, channel: str, official_id: str) -> str:
    return f"{alert_id}.{channel}.{official_id}"


def split_delivery_id(value: str) -> tuple[str, str, str]:
    """(alert id, channel, official id); raises ValueError on a malformed id."""
    alert_id, channel, official_id = value.split(".", 2)
    if not (alert_id and channel and official_id):
        raise ValueError(f"malformed delivery id {value!r}")
    return alert_id, channel, official_id


def backoff_seconds(attempt: int, base: float, cap: float = 60.0) -> float:
    """Exponential backoff for the n-th failed attempt (1-based)."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


@dataclass(frozen=True)
class AlertProgress:
    totals: dict[str, int]
    counts: dict[str, dict[str, int]]

    @property
    def settled(self) -> bool:
        """True once every delivery of every channel is in a final state."""
        for channel, total in self.totals.items():
            done = sum(n for state, n in self.counts.get(channel, {}).items() if state in FINAL_STATES)
            if done < total:
                return False
        return True
