"""Fault injection for the simulators: error rates, latency, hangs and per-address outcomes.

A send request can go wrong before the provider processed it (429, 500, 503, or a hang after which
nothing was done) or after it (the message was accepted and goes out, but the answer is a 500 or comes
too late for the client): a client cannot tell the two apart, which is the point.

The settings are replaced as a whole by `POST /sim/faults`; per-request checks take a fast path when nothing
is set, because the benchmark drives thousands of requests a second through them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

RATE_KEYS = ("error_rate", "rate_429", "accepted_error_rate", "hang_rate", "accepted_hang_rate")
# `request_fault` / `accepted_fault`: hold the answer `hang_ms`, past the client's timeout.
HANG = -1
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
    accepted_error_rate: float = 0.0  # share of send requests processed (it goes out), answered HTTP 500
    hang_rate: float = 0.0  # share of send requests held `hang_ms`, then dropped unprocessed (a 504)
    accepted_hang_rate: float = 0.0  # share of send requests processed, their answer held `hang_ms`
    hang_next: int = 0  # the next n send requests hang and are dropped unprocessed
    hang_ms: float = 12_000.0  # how long a hang lasts: past the twilio SDK's 10 s timeout
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
        self._update_any()

    def _update_any(self) -> None:
        self.any_request_fault = bool(
            self.latency_ms
            or self.fail_next
            or self.hang_next
            or any(getattr(self, key) for key in RATE_KEYS)
        )

    def to_json(self) -> dict[str, Any]:
        """The settings as `GET /sim/faults` shows them (lists sorted)."""
        return {
            "error_rate": self.error_rate,
            "rate_429": self.rate_429,
            "latency_ms": self.latency_ms,
            "fail_next": self.fail_next,
            "accepted_error_rate": self.accepted_error_rate,
            "hang_rate": self.hang_rate,
            "accepted_hang_rate": self.accepted_hang_rate,
            "hang_next": self.hang_next,
            "hang_ms": self.hang_ms,
            **{key: sorted(getattr(self, key)) for key in (*NUMBER_KEYS, *EMAIL_KEYS)},
        }

    def request_fault(self) -> int:
        """How a send request fails before it is processed: an HTTP status (429, 500, 503), HANG (held
        `hang_ms`, then dropped), or 0 to process it.

        `fail_next` and `hang_next` are consumed here, so call once per send request.
        """
        if self.fail_next > 0:
            self.fail_next -= 1
            self._update_any()
            return 503
        if self.hang_next > 0:
            self.hang_next -= 1
            self._update_any()
            return HANG
        roll = random.random()
        for share, status in ((self.rate_429, 429), (self.error_rate, 500), (self.hang_rate, HANG)):
            if roll < share:
                return status
            roll -= share
        return 0

    def accepted_fault(self) -> int:
        """How the answer to a processed send request goes wrong: 500 (it went out all the same), HANG
        (the answer comes `hang_ms` late), or 0 (none). Call once per processed send request."""
        roll = random.random()
        if roll < self.accepted_error_rate:
            return 500
        if roll - self.accepted_error_rate < self.accepted_hang_rate:
            return HANG
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
    known = {*RATE_KEYS, "latency_ms", "hang_ms", "fail_next", "hang_next", *NUMBER_KEYS, *EMAIL_KEYS}
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
    before = sum(float(kwargs.get(key, 0.0)) for key in ("error_rate", "rate_429", "hang_rate"))
    if before > 1:
        raise FaultsError("hang_rate", "error_rate + rate_429 + hang_rate must not exceed 1")
    if kwargs.get("accepted_error_rate", 0.0) + kwargs.get("accepted_hang_rate", 0.0) > 1:
        raise FaultsError("accepted_hang_rate", "accepted_error_rate + accepted_hang_rate must not exceed 1")
    for key in ("latency_ms", "hang_ms"):
        if key in body:
            value = body[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 60_000:
                raise FaultsError(key, "must be a number of milliseconds from 0 to 60000")
            kwargs[key] = float(value)
    for key in ("fail_next", "hang_next"):
        if key in body:
            value = body[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FaultsError(key, "must be a non-negative integer")
            kwargs[key] = value
    for key in (*NUMBER_KEYS, *EMAIL_KEYS):
        if key in body:
            values = body[key]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise FaultsError(key, "must be a list of strings")
            kwargs[key] = frozenset(v.lower() for v in values) if key in EMAIL_KEYS else frozenset(values)
    return Faults(**kwargs)
