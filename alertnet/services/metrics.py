"""`/metrics`: the whole deployment's figures in the Prometheus text format, read from Redis when scraped.

Workers and schedulers run on many hosts against one Redis, so no process holds the whole picture and a
per-host multiprocess directory would not add up: every process counts into Redis where things happen
(`alertnet.store.metrics`), and the API turns those counters into metric families here, through
prometheus_client (a custom collector over one snapshot; the client library renders the text).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from rq import Queue

from alertnet.domain.metrics import (
    ACK_SECONDS,
    LATENESS_SECONDS,
    PROVIDER_SECONDS,
    cumulative,
    scrape_refusal,
    split_field,
    window_buckets,
)
from alertnet.pipeline.request_metrics import flush_request_counts
from alertnet.settings import MetricsSettings
from alertnet.store import keys as k
from alertnet.store.metrics import MetricsSnapshot, MetricsStore

# The classic text format every Prometheus reads (the metric names here are all legacy-safe, so
# generate_latest's output is the same in format 0.0.4 and 1.0.0).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _counter(
    name: str, documentation: str, labels: Sequence[str], values: Mapping[str, float]
) -> CounterMetricFamily:
    """A counter family from a hash of "label|label" fields (fields of another shape are left out)."""
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    for key, value in sorted(values.items()):
        parts = split_field(key, len(labels))
        if parts is not None:
            family.add_metric(list(parts), value)
    return family


def _histogram(
    name: str, documentation: str, labels: Sequence[str], values: Mapping[str, float], bounds: Sequence[float]
) -> HistogramMetricFamily:
    """A histogram family from a hash of bucket counts "labels...|le", and "labels...|sum" and "...|count"."""
    series: dict[tuple[str, ...], dict[str, float]] = {}
    for key, value in values.items():
        parts = split_field(key, len(labels) + 1)
        if parts is not None:
            series.setdefault(parts[:-1], {})[parts[-1]] = value
    family = HistogramMetricFamily(name, documentation, labels=list(labels))
    for label_values, fields in sorted(series.items()):
        counts = {le: int(n) for le, n in fields.items() if le not in ("sum", "count")}
        buckets = [(le, float(n)) for le, n in cumulative(counts, bounds)]
        family.add_metric(list(label_values), buckets, fields.get("sum", 0.0))
    return family


def families(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """Every metric family of a snapshot."""
    c = snapshot.counters
    yield _counter(
        "alertnet_deliveries",
        "Deliveries that entered each state, by channel (a delivery tried again enters sending once per try)",
        ("channel", "state"),
        c.get("deliveries", {}),
    )
    yield _counter(
        "alertnet_messages",
        "Messages fanned out, by kind (alert, update, cancel, all_clear, digest edition, bulletin edition)",
        ("kind",),
        c.get("messages", {}),
    )
    yield _counter(
        "alertnet_message_recipients",
        "Deliveries queued by fan-outs, by message kind and channel (escalation waves not included)",
        ("kind", "channel"),
        c.get("recipients", {}),
    )
    yield _counter("alertnet_acks", "First acknowledgements, by channel", ("channel",), c.get("acks", {}))
    yield _histogram(
        "alertnet_time_to_ack_seconds",
        "Seconds from an alert's creation to each official's first acknowledgement, by channel",
        ("channel",),
        c.get("ack_seconds", {}),
        ACK_SECONDS,
    )
    yield _histogram(
        "alertnet_provider_request_seconds",
        "Seconds each provider send request took (Twilio message or call create, SendGrid Mail Send)",
        ("provider", "channel"),
        c.get("requests", {}),
        PROVIDER_SECONDS,
    )
    yield _counter(
        "alertnet_provider_request_errors",
        "Provider send requests that failed, by HTTP status (or timeout, connection) and provider error code",
        ("provider", "channel", "status", "code"),
        c.get("request_errors", {}),
    )
    yield _counter(
        "alertnet_webhook_rejections",
        "Provider webhook requests refused (bad_signature, malformed, not_found) or replayed (duplicate)",
        ("provider", "reason"),
        c.get("webhook_rejected", {}),
    )
    queues = GaugeMetricFamily(
        "alertnet_queue_depth", "Batch jobs waiting in each rq queue", labels=["queue"]
    )
    for name, depth in snapshot.queues.items():
        queues.add_metric([name], depth)
    yield queues
    yield GaugeMetricFamily(
        "alertnet_batches_unfinished",
        "Fan-out batches queued or being sent (each holds a lease until it is done)",
        value=snapshot.batches_unfinished,
    )
    yield GaugeMetricFamily(
        "alertnet_workers_alive",
        "Worker processes with a live rq heartbeat (0 while work waits: nothing is being sent)",
        value=snapshot.workers_alive,
    )
    yield GaugeMetricFamily(
        "alertnet_escalation_steps_due",
        "Escalation steps waiting for their time",
        value=snapshot.escalation_due,
    )
    buckets = cumulative(window_buckets(snapshot.lateness, LATENESS_SECONDS), LATENESS_SECONDS)
    yield GaugeHistogramMetricFamily(
        "alertnet_escalation_step_lateness_seconds",
        "How late the most recent escalation steps (up to 10,000) fired after they were due",
        buckets=[(le, float(n)) for le, n in buckets],
        gsum_value=sum(snapshot.lateness),
    )


class _Snapshot:
    """A prometheus_client collector over one snapshot (built per scrape, never registered globally)."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return families(self.snapshot)


def render(snapshot: MetricsSnapshot) -> bytes:
    """The Prometheus text exposition of a snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(snapshot))
    return generate_latest(registry)


QUEUE_KEYS = {name: Queue.redis_queue_namespace_prefix + name for name in k.QUEUES}


class MetricsService:
    def __init__(self, settings: MetricsSettings, store: MetricsStore) -> None:
        self.settings = settings
        self.store = store

    content_type = CONTENT_TYPE

    def refusal(self, authorization: str, remote: str, forwarded: bool) -> int:
        """0 if this client may scrape, else 401 (token configured, not given) or 403 (not local)."""
        return scrape_refusal(self.settings.token, authorization, remote, forwarded)

    async def exposition(self) -> bytes:
        """The metrics, after adding this process's own provider requests (a test email, an editors'
        notice) to the counters."""
        await flush_request_counts(self.store.redis)
        return render(await self.store.snapshot(QUEUE_KEYS))

    async def webhook_rejected(self, provider: str, reason: str) -> None:
        await self.store.webhook_rejected(provider, reason)
