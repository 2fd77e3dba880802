"""Wiring: builds every component from one Settings object. Nothing connects at import time."""

from __future__ import annotations

import redis
from redis.asyncio import Redis

from alertnet.ack_service import AckService
from alertnet.alerts import Channel
from alertnet.channels.base import ChannelAdapter
from alertnet.channels.sendgrid_email import SendGridEmail
from alertnet.channels.twilio_common import make_async_client
from alertnet.channels.twilio_sms import TwilioSms
from alertnet.channels.twilio_voice import TwilioVoice
from alertnet.dispatch import Dispatcher
from alertnet.escalation import parse_policies
from alertnet.links import Links
from alertnet.pipeline import WorkerContext
from alertnet.ratelimit import Pacer
from alertnet.secrets_file import load_or_create_secret
from alertnet.service import AlertService
from alertnet.settings import Settings
from alertnet.signing import AlertSigner
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore
from alertnet.store.audit import AuditLog
from alertnet.store.registry import OfficialStore, SenderStore


def async_redis(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url, health_check_interval=30)


def sync_redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, health_check_interval=30)


def links(settings: Settings) -> Links:
    return Links(settings.api.base_url)


def build_channels(settings: Settings, conn: Redis) -> dict[Channel, ChannelAdapter]:
    """One adapter per channel, on the real SDKs; call inside the event loop that will use them."""
    twilio = settings.twilio
    return {
        Channel.SMS: TwilioSms(
            make_async_client(settings),
            Pacer(conn, "sms", twilio.sms_from, twilio.sms_rate_per_sender),
            validity_seconds=twilio.alert_validity_seconds,
            max_in_flight=twilio.max_in_flight,
        ),
        Channel.VOICE: TwilioVoice(
            make_async_client(settings),
            Pacer(conn, "voice", (twilio.voice_from,), twilio.calls_per_second),
            max_in_flight=twilio.max_in_flight,
        ),
        Channel.EMAIL: SendGridEmail.from_settings(settings),
    }


async def build_worker_context(settings: Settings) -> WorkerContext:
    """Build the adapters a worker process uses for every job; call inside the worker's event loop."""
    conn = async_redis(settings)
    return WorkerContext(
        settings=settings,
        redis=conn,
        alerts=AlertStore(conn),
        officials=OfficialStore(conn),
        channels=build_channels(settings, conn),
        links=links(settings),
        ack_secret=load_or_create_secret(settings.ack_secret_path),
    )


def build_services(settings: Settings) -> tuple[AlertService, AckService]:
    """The service layer with its stores, dispatcher and keys (created on first start)."""
    conn = async_redis(settings)
    officials = OfficialStore(conn)
    alerts = AlertStore(conn)
    audit = AuditLog(conn)
    acks = AckStore(conn)
    service = AlertService(
        settings,
        officials=officials,
        senders=SenderStore(conn),
        alerts=alerts,
        acks=acks,
        audit=audit,
        dispatcher=Dispatcher(sync_redis(settings)),
        signer=AlertSigner.load_or_create(settings.signing_key_path),
        links=links(settings),
        policies=parse_policies(settings.escalation.policy_path.read_text()),
    )
    ack_service = AckService(
        alerts=alerts,
        acks=acks,
        officials=officials,
        audit=audit,
        secret=load_or_create_secret(settings.ack_secret_path),
        link_days=settings.escalation.ack_link_days,
    )
    return service, ack_service
