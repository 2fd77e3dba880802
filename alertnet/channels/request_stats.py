"""How long each provider request took and how it failed, counted in memory by the adapters.

Adapters do no I/O of their own besides the provider's, so they only count here (a dict update per request,
thread-safe: SendGrid's requests run in a thread); the worker hands the counts to Redis with the outcomes
it records anyway (`alertnet.pipeline.sending`), one pipelined write per ~100 results, and the API does
the same with its own before each scrape. One process-wide tally, like prometheus_client's own registry.
"""

from __future__ import annotations

import threading

from alertnet.domain.metrics import PROVIDER_SECONDS, RequestCounts, bucket_of, join


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = RequestCounts()

    def note(self, provider: str, channel: str, seconds: float, status: str = "", code: str = "") -> None:
        """One request to `provider` for `channel` that took `seconds`; `status` (the HTTP status, or
        "timeout", "connection") and the provider's error `code` when it failed."""
        series = join(provider, channel)
        bucket = join(series, bucket_of(seconds, PROVIDER_SECONDS))
        with self._lock:
            c = self._counts
            c.buckets[bucket] = c.buckets.get(bucket, 0) + 1
            c.sums[series] = c.sums.get(series, 0.0) + seconds
            c.counts[series] = c.counts.get(series, 0) + 1
            if status:
                error = join(series, status, code)
                c.errors[error] = c.errors.get(error, 0) + 1

    def drain(self) -> RequestCounts:
        """Everything counted since the last drain (and start afresh)."""
        with self._lock:
            counts, self._counts = self._counts, RequestCounts()
        return counts

    def put_back(self, counts: RequestCounts) -> None:
        """Counts whose write failed (Redis away): kept for the next drain."""
        with self._lock:
            self._counts.add(counts)


REQUESTS = RequestStats()
