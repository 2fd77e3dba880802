"""What providers post to the hub, from a verified request to its effect: status callbacks and events
become delivery receipts, an inbound SMS or a keypress becomes an acknowledgement, and a call fetches
its script. Parsing and signature checks are the providers' adapters' (`alertnet.channels`)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Concatenate, ParamSpec, TypeVar

import redis

from alertnet.channels.sendgrid_events import AddressEvent, EventsRefused, SendGridEvents, address_events
from alertnet.channels.twilio_voice import voice_twiml
from alertnet.channels.twilio_webhooks import TwilioWebhooks
from alertnet.domain.deliveries import split_delivery_id
from alertnet.domain.links import Links
from alertnet.domain.receipts import Receipt
from alertnet.pipeline.messages import MessageLoader
from alertnet.pipeline.receipts import GroupCommit, ReceiptApplier
from alertnet.services.acks import AckRefused, AckService
from alertnet.services.errors import BadRequest, BadSignature, NotFound
from alertnet.services.polls import PollService
from alertnet.store.digest import SubscriptionStore
from alertnet.store.metrics import MetricsStore
from alertnet.store.webhooks import HandledRequests

KEY_NOT_RECOGNIZED = "That key was not recognized. Reply 1 to the text message to acknowledge. Goodbye."
KEY_RECORDED = "Thank you. Your acknowledgement has been recorded. Goodbye."
P = ParamSpec("P")
R = TypeVar("R")
Handler = Callable[Concatenate["WebhookService", P], Awaitable[R]]


def _refusals_counted(provider: str) -> Callable[[Handler[P, R]], Handler[P, R]]:
    """Count every request the handler refuses, by reason, for the metrics (and refuse it as before)."""

    def wrap(handler: Handler[P, R]) -> Handler[P, R]:
        @functools.wraps(handler)
        async def counted(self: WebhookService, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await handler(self, *args, **kwargs)
            except BadSignature:
                await self.rejected(provider, "bad_signature")
                raise
            except BadRequest:
                await self.rejected(provider, "malformed")
                raise
            except NotFound:
                await self.rejected(provider, "not_found")
                raise

        return counted

    return wrap


class WebhookService:
    def __init__(
        self,
        *,
        twilio: TwilioWebhooks,
        sendgrid: SendGridEvents,
        receipts: ReceiptApplier,
        acks: AckService,
        messages: MessageLoader,
        links: Links,
        handled: HandledRequests,
        subscriptions: SubscriptionStore | None = None,
        metrics: MetricsStore | None = None,
        polls: PollService | None = None,
    ) -> None:
        self.polls = polls  # answers to an alert's status check (a bare digit, a key)
        self.subscriptions = subscriptions
        self.metrics = metrics
        self.twilio = twilio
        self.sendgrid = sendgrid
        self.receipts = receipts
        self.callbacks = GroupCommit(receipts)  # status callbacks, one receipt each
        self.acks = acks
        self.messages = messages
        self.links = links
        self.handled = handled

    async def rejected(self, provider: str, reason: str) -> None:
        """Count a refused (or replayed) webhook request; never changes the answer to it."""
        if self.metrics is not None:
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                await self.metrics.webhook_rejected(provider, reason)

    def _verified(self, url: str, params: Mapping[str, str], signature: str) -> None:
        if not self.twilio.verify(url, params, signature):
            raise BadSignature("X-Twilio-Signature: missing or does not match")

    async def _apply(self, did: str, receipt: Receipt | None, provider_id: str) -> None:
        if not did:
            raise BadRequest("d: delivery id query parameter is required")
        if receipt is not None:
            await self.callbacks.apply(did, receipt, provider_id)

    @_refusals_counted("twilio")
    async def twilio_sms_status(self, url: str, params: Mapping[str, str], signature: str, did: str) -> None:
        """A Messaging status callback for delivery `did`. Raises BadSignature or BadRequest."""
        self._verified(url, params, signature)
        await self._apply(did, *self.twilio.sms_status(params))

    @_refusals_counted("twilio")
    async def twilio_call_status(self, url: str, params: Mapping[str, str], signature: str, did: str) -> None:
        """A Voice status callback for delivery `did`. Raises BadSignature or BadRequest."""
        self._verified(url, params, signature)
        await self._apply(did, *self.twilio.call_status(params))

    @_refusals_counted("twilio")
    async def twilio_call_script(self, url: str, params: Mapping[str, str], signature: str, did: str) -> str:
        """The TwiML of a call too long to hand Twilio inline. Raises BadSignature, BadRequest, NotFound."""
        self._verified(url, params, signature)
        if not did:
            raise BadRequest("d: delivery id query parameter is required")
        try:
            message_id, _slot, _official = split_delivery_id(did)
        except ValueError:
            raise NotFound(f"d: no delivery '{did}'") from None
        message = await self.messages.get(message_id)
        if message is None or message.content.voice is None:
            raise NotFound(f"d: no delivery '{did}'")
        return voice_twiml(message.content.voice, gather_action=self.links.call_gather(did))

    @_refusals_counted("twilio")
    async def twilio_inbound_sms(self, url: str, params: Mapping[str, str], signature: str) -> str:
        """An official's SMS to the hub; returns the TwiML reply. Raises BadSignature.

        Twilio's signature carries no time, so a request can come again (a retry, a replay): the same
        MessageSid is handled once, and a second time gets an empty reply and changes nothing (a bare "1"
        must not acknowledge the next older alert).
        """
        self._verified(url, params, signature)
        sid = params.get("MessageSid", "")
        if sid and not await self.handled.begin("twilio-sms", sid):
            await self.rejected("twilio", "duplicate")
            return self.twilio.empty_reply()
        try:
            # An ack is recorded with this request's "handled" mark in one transaction: a retry after a
            # failure finds either both or neither.
            marker = self.handled.key("twilio-sms", sid) if sid else None
            replies: AckService | PollService = self.acks if self.polls is None else self.polls
            text = await replies.sms_reply(params.get("From", ""), params.get("Body", ""), handled=marker)
        except BaseException:
            if sid:
                await self.handled.abandon("twilio-sms", sid)
            raise
        if sid:
            await self.handled.done("twilio-sms", sid)
        return self.twilio.sms_reply(text)

    @_refusals_counted("twilio")
    async def twilio_keypress(self, url: str, params: Mapping[str, str], signature: str, did: str) -> str:
        """A digit pressed during a call; returns the TwiML answer. Raises BadSignature."""
        self._verified(url, params, signature)
        try:
            said = None if self.polls is None else await self.polls.keypress(did, params.get("Digits", ""))
            if said is not None:
                return self.twilio.say(said)
            result = await self.acks.keypress(did, params.get("Digits", ""))
        except (AckRefused, ValueError):
            result = None
        return self.twilio.say(KEY_NOT_RECOGNIZED if result is None else KEY_RECORDED)

    @_refusals_counted("sendgrid")
    async def sendgrid_events(self, body: bytes, signature: str, timestamp: str) -> None:
        """A batch of SendGrid events. Raises BadSignature, or BadRequest for a body that is not events."""
        if not self.sendgrid.verify(body, signature, timestamp):
            raise BadSignature("X-Twilio-Email-Event-Webhook-Signature: missing, stale or does not match")
        try:
            events = self.sendgrid.read(body)
        except EventsRefused as error:
            raise BadRequest(str(error), error.error) from None
        await self.receipts.apply(self.sendgrid.receipts(events).items())
        if self.subscriptions is not None:
            await self._count_address_events(address_events(events))

    async def _count_address_events(self, events: list[AddressEvent]) -> None:
        """Bounces and complaints count against their address (each SendGrid event once, however often
        it is posted); a delivery ends a run of soft failures."""
        subscriptions = self.subscriptions
        assert subscriptions is not None
        delivered = [e for e in events if e.kind is None]
        if delivered:
            await subscriptions.delivered([e.email for e in delivered])
        for event in events:
            if event.kind is None:
                continue
            if event.event_id and not await self.handled.begin("sendgrid-event", event.event_id):
                continue
            await subscriptions.record_event(event.email, event.kind, event.reason)
            if event.event_id:
                await self.handled.done("sendgrid-event", event.event_id)
