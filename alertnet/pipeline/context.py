"""What a worker process builds once and every batch job uses: stores, messages, and one adapter per
channel on the real SDKs (pointed at the simulators when no credentials are configured)."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.asyncio import Redis

from alertnet.channels.base import ChannelAdapter
from alertnet.channels.sendgrid_email import SendGridEmail
from alertnet.channels.twilio_common import make_async_client
from alertnet.channels.twilio_sms import TwilioSms
from alertnet.channels.twilio_voice import TwilioVoice
from alertnet.content import templates
from alertnet.domain.links import Links
from alertnet.domain.messages import Channel
from alertnet.pipeline.enqueue import Dispatcher
from alertnet.pipeline.messages import MessageLoader
from alertnet.pipeline.pacing import Pacer
from alertnet.pipeline.receipts import ReceiptApplier
from alertnet.settings import Settings
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore
from alertnet.store.audit import AuditLog
from alertnet.store.files import load_or_create_secret
from alertnet.store.messages import MessageStore
from alertnet.store.redis_url import connect_async, connect_sync
from alertnet.store.registry import OfficialStore

# A worker that cannot get its claims onto a replica waits this long (not sending) before the batch fails.
WORKER_DURABLE_PATIENCE_SECONDS = 60.0


def async_redis(settings: Settings) -> Redis:
    """The async client for `redis_url` (plain or Sentinel), carrying the `[redis]` durability settings."""
    durability = settings.redis
    return connect_async(
        settings.redis_url,
        min_replicas=durability.min_replicas,
        wait_timeout_ms=durability.wait_timeout_ms,
        health_check_interval=30,
    )


def sync_redis(settings: Settings) -> redis.Redis:
    durability = settings.redis
    return connect_sync(
        settings.redis_url,
        min_replicas=durability.min_replicas,
        wait_timeout_ms=durability.wait_timeout_ms,
        health_check_interval=30,
    )


def build_channels(settings: Settings, conn: Redis) -> dict[Channel, ChannelAdapter]:
    """One adapter per channel, paced through Redis; call inside the event loop that will use them."""
    twilio = settings.twilio
    links = Links(settings.api.base_url)
    return {
        Channel.SMS: TwilioSms(
            make_async_client(settings),
            Pacer(conn, "sms", twilio.sms_from, twilio.sms_rate_per_sender),
            links,
            validity_seconds=twilio.alert_validity_seconds,
            max_in_flight=twilio.max_in_flight,
        ),
        Channel.VOICE: TwilioVoice(
            make_async_client(settings),
            Pacer(conn, "voice", (twilio.voice_from,), twilio.calls_per_second),
            links,
            max_in_flight=twilio.max_in_flight,
        ),
        Channel.EMAIL: SendGridEmail.from_settings(settings),
    }


@dataclass
class WorkerContext:
    """Everything a worker process builds once and every batch job uses."""

    settings: Settings
    redis: Redis
    alerts: AlertStore
    officials: OfficialStore
    messages: MessageLoader
    channels: dict[Channel, ChannelAdapter]
    links: Links
    ack_secret: bytes = b""
    audit: AuditLog | None = None  # where refusals are recorded (a cyber bulletin's marking)
    # Receipts a look-up finds, applied as a status callback's are (an undelivered alert SMS: a call).
    receipts: ReceiptApplier | None = None

    async def close(self) -> None:
        for adapter in self.channels.values():
            await adapter.close()
        await self.redis.aclose()
        if self.receipts is not None:
            self.receipts.dispatcher.redis.close()


async def build_worker_context(settings: Settings) -> WorkerContext:
    """Build the adapters a worker process uses for every job; call inside the worker's event loop."""
    templates.configure(settings.templates_path)  # for messages rendered here (queued before an upgrade)
    conn = connect_async(
        settings.redis_url,
        min_replicas=settings.redis.min_replicas,
        wait_timeout_ms=settings.redis.wait_timeout_ms,
        health_check_interval=30,
    )
    conn.patience_seconds = WORKER_DURABLE_PATIENCE_SECONDS  # a claim waits for a replica, never sends blind
    links = Links(settings.api.base_url)
    alerts = AlertStore(conn)
    officials = OfficialStore(conn)
    messages = MessageLoader(MessageStore(conn), alerts, links)
    receipts = ReceiptApplier(
        settings,
        alerts=alerts,
        acks=AckStore(conn),
        officials=officials,
        messages=messages,
        dispatcher=Dispatcher(sync_redis(settings)),
    )
    return WorkerContext(
        settings=settings,
        redis=conn,
        alerts=alerts,
        officials=officials,
        messages=messages,
        channels=build_channels(settings, conn),
        links=links,
        ack_secret=load_or_create_secret(settings.ack_secret_path),
        audit=AuditLog(conn),
        receipts=receipts,
    )
