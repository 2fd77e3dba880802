"""Wiring: builds every service from one Settings object. Nothing connects at import time."""

from __future__ import annotations

import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import redis
from aiohttp_session.redis_storage import RedisStorage
from redis.asyncio import Redis

from alertnet.channels.sendgrid_email import SendGridEmail
from alertnet.channels.sendgrid_events import SendGridEvents
from alertnet.channels.twilio_webhooks import TwilioWebhooks
from alertnet.content import templates
from alertnet.domain.alert_templates import parse_templates
from alertnet.domain.cap_in import geocode_index
from alertnet.domain.escalation import parse_policies
from alertnet.domain.links import Links
from alertnet.domain.subscriptions import ProblemThresholds
from alertnet.pipeline.context import async_redis, sync_redis
from alertnet.pipeline.enqueue import Dispatcher
from alertnet.pipeline.messages import MessageLoader
from alertnet.pipeline.receipts import ReceiptApplier
from alertnet.services.accounts import AccountService
from alertnet.services.acks import AckService
from alertnet.services.alerts import AlertService
from alertnet.services.approvals import ApprovalService
from alertnet.services.audit import AuditService
from alertnet.services.bulletins import BulletinService
from alertnet.services.cap import CapService
from alertnet.services.cap_xml import CapSigner
from alertnet.services.console import ConsoleService
from alertnet.services.digest import DigestService
from alertnet.services.drills import DrillService
from alertnet.services.fanout import FanOut
from alertnet.services.health import HealthService
from alertnet.services.metrics import MetricsService
from alertnet.services.once import IdempotentAlerts
from alertnet.services.polls import PollService
from alertnet.services.registry import RegistryService
from alertnet.services.registry_uploads import RegistryUploadService
from alertnet.services.reminders import ReminderService
from alertnet.services.schools import SchoolService
from alertnet.services.senders import SenderService
from alertnet.services.subscriptions import SubscriptionService
from alertnet.services.webhooks import WebhookService
from alertnet.settings import Settings
from alertnet.store import keys as k
from alertnet.store.accounts import AccountStore
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore
from alertnet.store.approvals import ApprovalStore
from alertnet.store.audit import AuditLog
from alertnet.store.bulletins import BulletinStore
from alertnet.store.cap import CapStore
from alertnet.store.cap_keys import CapIdentity, load_identity, load_or_create_identity
from alertnet.store.console import DraftStore
from alertnet.store.digest import DigestStore, SubscriptionStore
from alertnet.store.drills import DrillStore
from alertnet.store.files import load_or_create_secret, load_or_create_signer, read_public_key
from alertnet.store.idempotency import IdempotencyStore
from alertnet.store.messages import MessageStore
from alertnet.store.metrics import MetricsStore
from alertnet.store.polls import PollStore
from alertnet.store.registry import OfficialStore, SenderStore
from alertnet.store.registry_uploads import RegistryUploadStore
from alertnet.store.webhooks import HandledRequests

T = TypeVar("T")


@dataclass
class Services:
    """Every use case, over one async and one sync (rq) Redis connection; `close` releases both."""

    settings: Settings
    alerts: AlertService
    alerts_once: IdempotentAlerts
    acks: AckService
    senders: SenderService
    registry: RegistryService
    registry_uploads: RegistryUploadService
    audit: AuditService
    webhooks: WebhookService
    health: HealthService
    digest: DigestService
    bulletins: BulletinService
    accounts: AccountService
    console: ConsoleService
    approvals: ApprovalService
    reminders: ReminderService
    subscriptions: SubscriptionService
    cap: CapService
    schools: SchoolService
    polls: PollService
    drills: DrillService
    metrics: MetricsService
    fanout: FanOut
    receipts: ReceiptApplier
    messages: MessageLoader
    conn: Redis
    sync_conn: redis.Redis

    async def close(self) -> None:
        await self.conn.aclose()
        self.sync_conn.close()


def event_public_key(settings: Settings) -> str:
    """SendGrid's Event Webhook verification key; with the simulator, the key it publishes on start."""
    if settings.sendgrid.event_public_key or not settings.sendgrid_simulated:
        return settings.sendgrid.event_public_key
    return read_public_key(settings.sim_event_public_key_path)


def cap_identity(settings: Settings) -> CapIdentity:
    """The CAP signing certificate and key: the configured files, else the hub's own (made on first start)."""
    cap = settings.cap
    if cap.certificate_file or cap.key_file:
        return load_identity(Path(cap.certificate_file), Path(cap.key_file))
    return load_or_create_identity(
        settings.cap_identity_path, common_name=f"{cap.sender} CAP signing", organization=cap.sender_name
    )


def build_services(settings: Settings) -> Services:
    """The service layer with its stores, dispatcher and keys (created on first start)."""
    templates.configure(settings.templates_path)
    conn = async_redis(settings)
    sync_conn = sync_redis(settings)
    links = Links(settings.api.base_url)
    officials = OfficialStore(conn)
    alerts = AlertStore(conn)
    audit = AuditLog(conn)
    acks = AckStore(conn)
    dispatcher = Dispatcher(sync_conn)
    fanout = FanOut(settings, dispatcher)
    messages = MessageLoader(MessageStore(conn), alerts, links)
    receipts = ReceiptApplier(
        settings, alerts=alerts, acks=acks, officials=officials, messages=messages, dispatcher=dispatcher
    )
    signer = load_or_create_signer(settings.signing_key_path)
    link_secret = load_or_create_secret(settings.ack_secret_path)
    senders = SenderStore(conn)
    subscriptions = SubscriptionStore(
        conn, ProblemThresholds(settings.digest.hard_bounces, settings.digest.soft_in_a_row)
    )
    alert_service = AlertService(
        settings,
        officials=officials,
        alerts=alerts,
        acks=acks,
        audit=audit,
        fanout=fanout,
        signer=signer,
        links=links,
        policies=parse_policies(settings.escalation.policy_path.read_text()),
        approvals=ApprovalStore(conn),
    )
    ack_service = AckService(
        alerts=alerts,
        acks=acks,
        officials=officials,
        audit=audit,
        secret=link_secret,
        number_secret=load_or_create_secret(settings.number_ref_secret_path),
        link_days=settings.escalation.ack_link_days,
    )
    polls = PollStore(conn)
    alerts_once = IdempotentAlerts(alert_service, IdempotencyStore(conn), audit)
    poll_service = PollService(
        acks=ack_service, alerts=alerts, polls=polls, officials=officials, senders=senders, audit=audit,
        send_notice=lambda sender, request, key: alerts_once.submit(sender, request, key, same_as=key),
        console_url=settings.api.base_url,
        notice_retry=settings.escalation.help_notice_retry_seconds,
    )  # fmt: skip
    metrics = MetricsStore(conn)
    webhooks = WebhookService(
        twilio=TwilioWebhooks(settings.twilio_auth_token),
        sendgrid=SendGridEvents(lambda: event_public_key(settings)),
        receipts=receipts,
        acks=ack_service,
        messages=messages,
        links=links,
        handled=HandledRequests(conn),
        subscriptions=subscriptions,
        metrics=metrics,
        polls=poll_service,
    )
    digest_store = DigestStore(conn)
    bulletin_store = BulletinStore(conn)
    digest = DigestService(
        settings,
        store=digest_store,
        subscriptions=subscriptions,
        officials=officials,
        senders=senders,
        fanout=fanout,
        audit=audit,
        links=links,
        secret=link_secret,
        mailer=SendGridEmail.from_settings(settings).send_simple,
        bulletins=bulletin_store,
    )
    bulletins = BulletinService(
        settings,
        store=bulletin_store,
        digest=digest,
        digest_store=digest_store,
        subscriptions=subscriptions,
        officials=officials,
        fanout=fanout,
        audit=audit,
        links=links,
        secret=link_secret,
    )
    accounts = AccountService(settings.console, accounts=AccountStore(conn), senders=senders, audit=audit)
    console = ConsoleService(
        templates=parse_templates(tomllib.loads(settings.console.templates_path.read_text())),
        drafts=DraftStore(conn),
        officials=officials,
        subscriptions=subscriptions,
        alerts=alert_service,
        once=alerts_once,
        acks=ack_service,
        audit=audit,
        links=links,
    )
    registry = RegistryService(officials, audit)
    return Services(
        settings=settings,
        accounts=accounts,
        console=console,
        reminders=ReminderService(alerts=alerts, acks=ack_service, fanout=fanout, audit=audit),
        approvals=ApprovalService(
            settings.approval,
            store=alert_service.approvals,
            alerts=alert_service,
            audit=audit,
            senders=senders,
            console_url=settings.api.base_url,
        ),
        alerts=alert_service,
        acks=ack_service,
        senders=SenderService(senders, audit),
        registry=registry,
        registry_uploads=RegistryUploadService(
            uploads=RegistryUploadStore(conn),
            officials=officials,
            registry=registry,
            digest=digest,
            audit=audit,
        ),
        audit=AuditService(audit, signer),
        webhooks=webhooks,
        digest=digest,
        bulletins=bulletins,
        subscriptions=SubscriptionService(subscriptions, audit, link_secret),
        alerts_once=alerts_once,
        cap=CapService(
            settings.cap,
            signer=CapSigner(cap_identity(settings)),
            geocodes=geocode_index(settings.cap.geocodes),
            alerts=alert_service,
            alert_store=alerts,
            store=CapStore(conn),
            audit=audit,
            links=links,
        ),
        health=HealthService(conn, sync_conn),
        metrics=MetricsService(settings.metrics, metrics),
        schools=SchoolService(alerts=alerts, acks=acks, officials=officials, audit=audit, polls=polls),
        polls=poll_service,
        drills=DrillService(
            store=DrillStore(conn),
            alerts=alert_service,
            alert_store=alerts,
            acks=acks,
            officials=officials,
            subscriptions=subscriptions,
            audit=audit,
            timezone=settings.digest.timezone,
            once=alerts_once,
        ),
        fanout=fanout,
        receipts=receipts,
        messages=messages,
        conn=conn,
        sync_conn=sync_conn,
    )


async def using_services(settings: Settings, use: Callable[[Services], Awaitable[T]]) -> T:
    """Build the services, run `use` with them, and close their connections (one-shot commands)."""
    services = build_services(settings)
    try:
        return await use(services)
    finally:
        await services.close()


def console_sessions(settings: Settings) -> tuple[RedisStorage, Redis]:
    """The console's session storage (aiohttp-session, in Redis: signing out ends a session for good)
    and its connection, which the caller closes. The cookie is HttpOnly and SameSite=Strict, and Secure
    when the hub is served over TLS (its public URL is https)."""
    conn = async_redis(settings)
    storage = RedisStorage(
        conn,
        cookie_name=k.CONSOLE_COOKIE,
        max_age=int(settings.console.session_hours * 3600),
        httponly=True,
        samesite="Strict",
        secure=settings.api.base_url.startswith("https://"),
    )
    return storage, conn
