"""Console accounts, pure: what a password must be, and how long repeated sign-in failures make the next
try wait (a delay that doubles, never a lock: the Director must be able to sign in at 3 a.m.)."""

from __future__ import annotations

MIN_PASSWORD = 12
MAX_PASSWORD = 256


def password_problem(password: str) -> str | None:
    """Why this password may not be used, or None."""
    if len(password) < MIN_PASSWORD:
        return f"must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"must be at most {MAX_PASSWORD} characters"
    if password.strip() != password:
        return "must not start or end with spaces"
    return None


def wait_seconds(failures: int, last: float, now: float, *, free: int, max_wait: float) -> float:
    """How long from `now` the next sign-in try must wait after `failures` in a row, the last at `last`:
    nothing for the first `free`, then 1 s, 2 s, 4 s ... up to `max_wait` after the last failure."""
    if failures < free:
        return 0.0
    delay = min(max_wait, 2.0 ** min(failures - free, 30))
    return max(0.0, last + delay - now)
