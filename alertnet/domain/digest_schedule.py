"""When the weekly school safety update goes out: issue n is the n-th weekly send since the schedule's
first send date, and an item belongs to the first issue whose cut-off is after the moment it was added.

Pure: dates are worked out from the configured schedule, zone-aware (so DST-correct); nothing here reads
a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(name: str, where: str) -> int:
    try:
        return WEEKDAYS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"{where}: must be a weekday name (monday .. sunday); got {name!r}") from None


def _clock(text: str, where: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{where}: must be HH:MM or HH:MM:SS; got {text!r}") from None


@dataclass(frozen=True)
class DigestSchedule:
    """When issues go out: weekly on `send_day` at `send_at`, items cut off on `cutoff_day` at
    `cutoff_at` before it, all in `zone`. Issue 1 is the first send on or after `first_date`."""

    zone: ZoneInfo
    send_day: int
    send_at: time
    cutoff_day: int
    cutoff_at: time
    first_date: date
    max_lateness: float  # seconds: a send later than this is held, never sent stale by itself

    @classmethod
    def of(
        cls,
        *,
        timezone: str,
        send_day: str,
        send_time: str,
        cutoff_day: str,
        cutoff_time: str,
        first_date: str,
        max_lateness_hours: float,
    ) -> DigestSchedule:
        """Raises ValueError naming the bad setting."""
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"digest.timezone: unknown time zone {timezone!r}") from None
        try:
            first = date.fromisoformat(first_date)
        except ValueError:
            raise ValueError(f"digest.first_date: must be YYYY-MM-DD; got {first_date!r}") from None
        day = _weekday(send_day, "digest.send_day")
        first += timedelta(days=(day - first.weekday()) % 7)
        return cls(
            zone=zone,
            send_day=day,
            send_at=_clock(send_time, "digest.send_time"),
            cutoff_day=_weekday(cutoff_day, "digest.cutoff_day"),
            cutoff_at=_clock(cutoff_time, "digest.cutoff_time"),
            first_date=first,
            max_lateness=max_lateness_hours * 3600,
        )

    def send_time(self, issue: int) -> datetime:
        """Issue `issue`'s send time (zone-aware: 10:00 local stays 10:00 across a DST change)."""
        day = self.first_date + timedelta(weeks=issue - 1)
        return datetime.combine(day, self.send_at, tzinfo=self.zone)

    def cutoff(self, issue: int) -> datetime:
        """The last moment an item is added to `issue` (the cut-off day before its send, or that day)."""
        send = self.send_time(issue)
        back = (self.send_day - self.cutoff_day) % 7
        cut = datetime.combine(send.date() - timedelta(days=back), self.cutoff_at, tzinfo=self.zone)
        return cut if cut <= send else cut - timedelta(weeks=1)

    def _approx_issue(self, at: datetime) -> int:
        start = datetime.combine(self.first_date, self.send_at, tzinfo=self.zone)
        return max(1, int((at - start).total_seconds() // (7 * 86400)) + 1)

    def issue_for_item(self, at: datetime) -> int:
        """The issue an item added at `at` goes into: the first whose cut-off is after `at`."""
        n = max(1, self._approx_issue(at) - 1)
        while self.cutoff(n) <= at:
            n += 1
        while n > 1 and self.cutoff(n - 1) > at:
            n -= 1
        return n

    def next_issue(self, at: datetime) -> int:
        """The next issue to go out: the first whose send time is at or after `at`."""
        n = max(1, self._approx_issue(at) - 1)
        while self.send_time(n) < at:
            n += 1
        while n > 1 and self.send_time(n - 1) >= at:
            n -= 1
        return n

    def latest_due(self, at: datetime) -> int:
        """The newest issue whose send time has come (0 before issue 1)."""
        return self.next_issue(at) - (0 if self.send_time(self.next_issue(at)) <= at else 1)
