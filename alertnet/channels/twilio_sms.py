"""SMS through Twilio Programmable Messaging (the real SDK, async)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable
from typing import Any
from urllib.parse import quote_plus

from twilio.rest import Client

from alertnet.channels.base import Envelope, Match, Outgoing, ProviderRecord, SenderPool, SendResult
from alertnet.channels.twilio_common import (
    LOOKUP_LIMIT,
    FormEncoded,
    accepted_since,
    close_async_client,
    paced_sends,
)
from alertnet.channels.twilio_webhooks import sms_receipt
from alertnet.domain.links import Links
from alertnet.domain.messages import Channel
from alertnet.domain.receipts import Receipt


class TwilioSms:
    channel = Channel.SMS
    looks_up_status = True

    def __init__(
        self, client: Client, pool: SenderPool, links: Links, *, validity_seconds: int, max_in_flight: int
    ) -> None:
        self.client = client
        self.pool = pool
        self.links = links
        self.validity_seconds = validity_seconds
        self.max_in_flight = max_in_flight

    def send(self, outgoing: Outgoing, envelopes: list[Envelope]) -> AsyncGenerator[SendResult, None]:
        # Encoded once for the batch; a body made personal (a tag replaced) is a plain str again.
        body = FormEncoded(_body(outgoing), quote_plus(_body(outgoing)))
        validity = sms_validity(self.validity_seconds, outgoing.expires)

        def create(envelope: Envelope, sender: str) -> Awaitable[Any]:
            call: Awaitable[Any] = self.client.messages.create_async(
                to=envelope.address,
                from_=sender,
                body=personal_body(body, envelope),
                status_callback=self.links.sms_status(envelope.delivery_id),
                validity_period=validity,
            )
            return call

        return paced_sends(
            outgoing, envelopes, pool=self.pool, max_in_flight=self.max_in_flight, create=create
        )

    async def find_accepted(
        self, outgoing: Outgoing, envelope: Envelope, since: float
    ) -> list[ProviderRecord]:
        # Each recipient's SMS of a message has one body (theirs, with their own link), newest first. A
        # Message resource names neither its status callback nor anything else of the delivery, so the
        # body is the best match there is: another delivery with the same body to the same number (a
        # shared mobile, an escalation's SMS) is told apart by the caller, from the ids the hub recorded.
        body = personal_body(_body(outgoing), envelope)
        listed = await self.client.messages.list_async(to=envelope.address, limit=LOOKUP_LIMIT)
        return [
            ProviderRecord(str(found.sid), _receipt(found), Match.CONTENT)
            for found in accepted_since(listed, since, lambda m: m.body == body)
        ]

    async def status(self, provider_id: str) -> Receipt | None:
        return _receipt(await self.client.messages(provider_id).fetch_async())

    async def close(self) -> None:
        await close_async_client(self.client)


def _receipt(message: Any) -> Receipt | None:
    return sms_receipt(str(message.status or ""), str(message.error_code or ""))


def _body(outgoing: Outgoing) -> str:
    if outgoing.content.sms is None:
        raise ValueError(f"message {outgoing.message_id} has no SMS content")
    return outgoing.content.sms


def personal_body(body: str, envelope: Envelope) -> str:
    """The body with the recipient's own parts (a personal link) put in for their tags."""
    for tag, value in envelope.personal.items():
        body = body.replace(tag, value)
    return body


def sms_validity(configured: int, expires: float | None) -> int:
    """Twilio's ValidityPeriod: the configured bound, shorter if the message expires sooner (1..36000 s).

    A lockdown notice that would arrive after the alert expired is better dropped by Twilio.
    """
    seconds = configured
    if expires is not None:
        seconds = min(seconds, int(expires - time.time()))
    return max(1, min(36000, seconds))
