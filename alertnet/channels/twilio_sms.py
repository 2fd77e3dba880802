"""SMS through Twilio Programmable Messaging (the real SDK, async)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any

from twilio.rest import Client

from alertnet.alerts import Channel
from alertnet.channels.base import OutgoingAlert, SendResult
from alertnet.channels.twilio_common import close_async_client, paced_sends
from alertnet.contacts import Official
from alertnet.ratelimit import Pacer
from alertnet.render import sms_text


class TwilioSms:
    channel = Channel.SMS

    def __init__(self, client: Client, pacer: Pacer, *, validity_seconds: int, max_in_flight: int) -> None:
        self.client = client
        self.pacer = pacer
        self.validity_seconds = validity_seconds
        self.max_in_flight = max_in_flight

    def address(self, official: Official) -> str | None:
        return official.mobile

    def send(self, outgoing: OutgoingAlert, recipients: list[Official]) -> AsyncIterator[SendResult]:
        body = sms_text(outgoing.alert, code=outgoing.code, link=outgoing.links.alert_page(outgoing.alert.id))
        validity = sms_validity(self.validity_seconds, outgoing.alert.expires)

        def create(official: Official, sender: str, did: str) -> Awaitable[Any]:
            call: Awaitable[Any] = self.client.messages.create_async(
                to=official.mobile,
                from_=sender,
                body=body,
                status_callback=outgoing.links.sms_status(did),
                validity_period=validity,
            )
            return call

        return paced_sends(
            outgoing, recipients, pacer=self.pacer, max_in_flight=self.max_in_flight, create=create
        )

    async def close(self) -> None:
        await close_async_client(self.client)


def sms_validity(configured: int, expires: datetime | None) -> int:
    """Twilio's ValidityPeriod: the configured bound, shorter if the alert expires sooner (1..36000 s).

    A lockdown notice that would arrive after the alert expired is better dropped by Twilio.
    """
    seconds = configured
    if expires is not None:
        seconds = min(seconds, int((expires - datetime.now(UTC)).total_seconds()))
    return max(1, min(36000, seconds))
