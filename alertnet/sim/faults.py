"""Fault injection for the simulators: error rates, latency and per-address outcomes.

The settings are replaced as a whole by `POST /sim/faults`; per-request checks take a fast path when nothing
is set, because the benchmark drives thousands of requests a second through them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

RATE_KEYS = ("error_rate", "rate_429")
NUMBER_KEYS = (
    "fail_numbers",
    "undelivered_numbers",
    "no_answer_numbers",
    "busy_numbers",
    "voicemail_numbers",
)
EMAIL_KEYS = ("bounce_emails", "drop_emails", "spam_emails", "block_emails")


class FaultsError(ValueError):
    """A `POST /sim/faults` body that does not fit; `field` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class Faults:
    """What the simulators should get wrong. Every field defaults to "nothing"."""

    error_rate: float = 0.0  # share of send requests answered with HTTP 500
    rate_429: float = 0.0  # share of send requests answered with HTTP 429 (Twilio 20429)
    latency_ms: float = 0.0  # added before every send request is answered
    fail_next: int = 0  # the next n send requests get HTTP 503
    fail_numbers: frozenset[str] = frozenset()  # SMS: 400 code 21614; calls: CallStatus=failed
    undelivered_numbers: frozenset[str] = frozenset()  # SMS accepted, then "undelivered" with 30003
    no_answer_numbers: frozenset[str] = frozenset()  # calls end with CallStatus=no-answer
    busy_numbers: frozenset[str] = frozenset()  # calls end with CallStatus=busy
    voicemail_numbers: frozenset[str] = frozenset()  # calls are answered by a machine (AnsweredBy)
    bounce_emails: frozenset[str] = frozenset()  # lower-cased; "processed" then "bounce"
    drop_emails: frozenset[str] = frozenset()  # lower-cased; "dropped" only
    spam_emails: frozenset[str] = frozenset()  # lower-cased; "delivered", then the person reports spam
    block_emails: frozenset[str] = frozenset()  # lower-cased; "bounce" of type "blocked" (a soft failure)
    # Derived: lets the hot path skip every check with one attribute read.
    any_request_fault: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.any_request_fault = bool(self.error_rate or self.rate_429 or self.latency_ms or self.fail_next)

    def to_json(self) -> dict[str, Any]:
        """The settings as `GET /sim/faults` shows them (lists sorted)."""
        return {
            "error_rate": self.error_rate,
            "rate_429": self.rate_429,
            "latency_ms": self.latency_ms,
            "fail_next": self.fail_next,
            **{key: sorted(getattr(self, key)) for key in (*NUMBER_KEYS, *EMAIL_KEYS)},
        }

    def request_fault(self) -> int:
        """The HTTP status a send request should fail with (429, 500, 503), or 0 to process it.

        `fail_next` is consumed here, so call once per send request.
        """
        if self.fail_next > 0:
            self.fail_next -= 1
            self.any_request_fault = bool(
                self.error_rate or self.rate_429 or self.latency_ms or self.fail_next
            )
            return 503
        if self.rate_429 and random.random() < self.rate_429:
            return 429
        if self.error_rate and random.random() < self.error_rate:
            return 500
        return 0

    def call_outcome(self, to: str) -> str:
        """The final CallStatus of a call to `to`."""
        if to in self.fail_numbers:
            return "failed"
        if to in self.busy_numbers:
            return "busy"
        if to in self.no_answer_numbers:
            return "no-answer"
        return "completed"

    def answered_by(self, to: str) -> str:
        """Who picks up a completed call to `to`, as Twilio's answering machine detection reports it."""
        return "machine_end_beep" if to in self.voicemail_numbers else "human"

    def email_outcome(self, address_lower: str) -> str:
        """The final SendGrid event for a lower-cased address: delivered, bounce, dropped, spamreport (after
        delivered) or blocked (a bounce of type blocked)."""
        if address_lower in self.drop_emails:
            return "dropped"
        if address_lower in self.bounce_emails:
            return "bounce"
        if address_lower in self.spam_emails:
            return "spamreport"
        if address_lower in self.block_emails:
            return "blocked"
        return "delivered"


def parse_faults(body: object) -> Faults:
    """Build Faults from a `POST /sim/faults` JSON body; raises FaultsError naming the bad key."""
    if not isinstance(body, dict):
        raise FaultsError("body", "must be a JSON object")
    known = {*RATE_KEYS, "latency_ms", "fail_next", *NUMBER_KEYS, *EMAIL_KEYS}
    unknown = sorted(set(body) - known)
    if unknown:
        raise FaultsError(unknown[0], f"unknown fault; known: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for key in RATE_KEYS:
        if key in body:
            value = body[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise FaultsError(key, "must be a number from 0 to 1")
            kwargs[key] = float(value)
    if "latency_ms" in body:
        value = body["latency_ms"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 60_000:
            raise FaultsError("latency_ms", "must be a number of milliseconds from 0 to 60000")
        kwargs["latency_ms"] = float(value)
    if "fail_next" in body:
        value = body["fail_next"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FaultsError("fail_next", "must be a non-negative integer")
        kwargs["fail_next"] = value
    for key in (*NUMBER_KEYS, *EMAIL_KEYS):
        if key in body:
            values = body[key]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise FaultsError(key, "must be a list of strings")
            kwargs[key] = frozenset(v.lower() for v in values) if key in EMAIL_KEYS else frozenset(values)
    return Faults(**kwargs)
