"""Metrics (pure): histogram buckets, the hash fields the deployment-wide counters are kept under, and who
may scrape `/metrics`.

Counters live in Redis (`alertnet.store.metrics`), incremented where things happen, in the same atomic
step; the API turns them into the Prometheus text format when scraped (`alertnet.services.metrics`).
A histogram is kept as one count per bucket (not cumulative: one increment per observation), a sum and a
count; `cumulative` makes Prometheus's `le` buckets of it.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# Provider REST requests (a Twilio create, a SendGrid Mail Send): seconds from request to answer.
PROVIDER_SECONDS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# From an alert's creation to an official's first acknowledgement of it.
ACK_SECONDS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 86400.0)
# How long after it was due an escalation step fired.
LATENESS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
INF = "+Inf"
SEP = "|"  # between the label values of a hash field ("sms|delivered"): no label value holds one


def bound_label(bound: float) -> str:
    """A bucket bound as its hash field and `le` label ("0.5", "60")."""
    return f"{bound:g}"


def bucket_of(value: float, bounds: Sequence[float]) -> str:
    """The (non-cumulative) bucket an observation falls in: the first bound at or above it, else +Inf."""
    for bound in bounds:
        if value <= bound:
            return bound_label(bound)
    return INF


def cumulative(counts: Mapping[str, int], bounds: Sequence[float]) -> list[tuple[str, int]]:
    """Prometheus's cumulative buckets [(le, observations at or below)], ending with +Inf, from counts per
    bucket as `bucket_of` names them (a bucket no longer configured counts only towards +Inf)."""
    out: list[tuple[str, int]] = []
    running = 0
    for bound in bounds:
        running += counts.get(bound_label(bound), 0)
        out.append((bound_label(bound), running))
    out.append((INF, sum(counts.values())))
    return out


def join(*parts: str) -> str:
    """A hash field of label values."""
    return SEP.join(parts)


def split_field(name: str, parts: int) -> tuple[str, ...] | None:
    """A hash field's label values, or None if it does not have `parts` of them."""
    values = tuple(name.split(SEP))
    return values if len(values) == parts else None


@dataclass
class RequestCounts:
    """Provider requests counted in a process since its last write to Redis. Fields: "provider|channel|le"
    (one bucket each), "provider|channel" (the sum of seconds; the count), "provider|channel|status|code"
    (failures)."""

    buckets: dict[str, int] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.counts or self.errors)

    def add(self, other: RequestCounts) -> None:
        for mine, theirs in ((self.buckets, other.buckets), (self.counts, other.counts)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        for key, n in other.errors.items():
            self.errors[key] = self.errors.get(key, 0) + n
        for key, seconds in other.sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + seconds


def window_buckets(values: Sequence[float], bounds: Sequence[float]) -> dict[str, int]:
    """Counts per bucket of a list of observations (the recent escalation steps' lateness)."""
    counts: dict[str, int] = {}
    for value in values:
        bucket = bucket_of(value, bounds)
        counts[bucket] = counts.get(bucket, 0) + 1
    return counts


FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def scrape_refusal(token: str, authorization: str, remote: str, forwarded: bool) -> int:
    """0 if this request may read `/metrics`, else the status to refuse it with.

    With a token configured every scrape must carry it (`Authorization: Bearer <token>`): 401 otherwise.
    Without one, only a client on this host talking to the hub directly may scrape (loopback, and no
    proxy's forwarding header: behind a reverse proxy every client would look local): 403 otherwise.
    """
    if token:
        scheme, _, given = authorization.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
        return 0 if ok else 401
    if forwarded:
        return 403
    try:
        return 0 if ipaddress.ip_address(remote).is_loopback else 403
    except ValueError:
        return 403
