"""In-memory log of everything the simulators received, and their counters.

Records are plain JSON-ready dicts, appended in arrival order per kind; a parallel list of arrival times lets
`since` filters bisect instead of scanning a statewide alert's worth of records.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from typing import Any

KINDS = ("sms", "voice", "email")

Record = dict[str, Any]


class KindStats:
    """Counters for one kind of traffic (sms, voice, email)."""

    __slots__ = ("accepted", "first_request_at", "last_request_at", "recipients", "requests", "status_codes")

    def __init__(self) -> None:
        self.requests = 0
        self.accepted = 0
        self.recipients = 0
        self.first_request_at: float | None = None
        self.last_request_at: float | None = None
        self.status_codes: Counter[int] = Counter()

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "recipients": self.recipients,
            "first_request_at": self.first_request_at,
            "last_request_at": self.last_request_at,
            "status_codes": {str(code): n for code, n in sorted(self.status_codes.items())},
        }


class Store:
    """Records per kind, Twilio resources by SID, and the counters `/sim/stats` shows."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every record and zero every counter."""
        self.records: dict[str, list[Record]] = {kind: [] for kind in KINDS}
        self.times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        # SMS and call records by SID, for the REST API's fetch.
        self.by_sid: dict[str, Record] = {}
        # The sender of the last SMS to each number: /sim/reply answers to it.
        self.last_sender: dict[str, str] = {}
        self.kinds: dict[str, KindStats] = {kind: KindStats() for kind in KINDS}
        self.status_codes: Counter[int] = Counter()
        self.callbacks: Counter[str] = Counter()
        self.hangs: Counter[str] = Counter()
        self.started_at = time.time()

    def request(self, kind: str, status: int, now: float) -> None:
        """Count one API request of `kind` answered with `status`."""
        stats = self.kinds[kind]
        stats.requests += 1
        if 200 <= status < 300:
            stats.accepted += 1
        stats.status_codes[status] += 1
        self.status_codes[status] += 1
        if stats.first_request_at is None:
            stats.first_request_at = now
        stats.last_request_at = now

    def add(self, kind: str, record: Record) -> None:
        """Append a record; its `received_at` must be set."""
        self.records[kind].append(record)
        self.times[kind].append(record["received_at"])

    def query(self, kind: str | None, to: str | None, since: float) -> list[Record]:
        """Records of one kind (or all, by arrival) received at or after `since`, optionally to one
        address (case-insensitive)."""
        kinds = [kind] if kind else list(KINDS)
        found: list[Record] = []
        for k in kinds:
            start = bisect.bisect_left(self.times[k], since) if since else 0
            found.extend(self.records[k][start:])
        if to is not None:
            wanted = to.lower()
            found = [r for r in found if str(r.get("to", "")).lower() == wanted]
        if len(kinds) > 1:
            found.sort(key=lambda r: float(r["received_at"]))
        return found

    def stats_json(self, backlog: int) -> dict[str, Any]:
        """Everything `/sim/stats` shows."""
        return {
            "counts": {kind: len(self.records[kind]) for kind in KINDS},
            "kinds": {kind: stats.to_json() for kind, stats in self.kinds.items()},
            "status_codes": {str(code): n for code, n in sorted(self.status_codes.items())},
            "callbacks": {
                "posted": self.callbacks["posted"],
                "failed": self.callbacks["failed"],
                "rejected": self.callbacks["rejected"],
                "retried": self.callbacks["retried"],
                "email_events": self.callbacks["email_events"],
                "job_errors": self.callbacks["job_errors"],
                "backlog": backlog,
            },
            # Send requests held `hang_ms` (a fault): whose client had given up by then, whose had not.
            "hangs": {
                kind: {"abandoned": self.hangs[f"{kind}:abandoned"], "waited": self.hangs[f"{kind}:waited"]}
                for kind in KINDS
            },
            "since": self.started_at,
        }
