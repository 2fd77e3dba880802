"""SMS through Twilio Programmable Messaging (the real SDK, async)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from datetime import UTC, datetime
from typing import Any

from twilio.rest import Client

from alertnet.alerts import Channel
from alertnet.channels.base import OutgoingAlert, ProviderRecord, SendResult
from alertnet.channels.twilio_common import LOOKUP_LIMIT, accepted_since, close_async_client, paced_sends
from alertnet.contacts import Official
from alertnet.ratelimit import Pacer
from alertnet.receipts import Receipt, sms_receipt
from alertnet.render import sms_text


class TwilioSms:
    channel = Channel.SMS
    looks_up_status = True

    def __init__(self, client: Client, pacer: Pacer, *, validity_seconds: int, max_in_flight: int) -> None:
        self.client = client
        self.pacer = pacer
        self.validity_seconds = validity_seconds
        self.max_in_flight = max_in_flight

    def address(self, official: Official) -> str | None:
        return official.mobile

    def send(self, outgoing: OutgoingAlert, recipients: list[Official]) -> AsyncGenerator[SendResult, None]:
        body = _body(outgoing)
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

    async def find_accepted(
        self, outgoing: OutgoingAlert, official: Official, since: float
    ) -> ProviderRecord | None:
        # Every SMS of an alert has the same body, and the list is newest first.
        body = _body(outgoing)
        listed = await self.client.messages.list_async(to=official.mobile, limit=LOOKUP_LIMIT)
        found = accepted_since(listed, since, lambda m: m.body == body)
        return None if found is None else ProviderRecord(str(found.sid), _receipt(found))

    async def status(self, provider_id: str) -> Receipt | None:
        return _receipt(await self.client.messages(provider_id).fetch_async())

    async def close(self) -> None:
        await close_async_client(self.client)


def _receipt(message: Any) -> Receipt | None:
    return sms_receipt(str(message.status or ""), str(message.error_code or ""))


def _body(outgoing: OutgoingAlert) -> str:
    return sms_text(outgoing.alert, code=outgoing.code, link=outgoing.links.alert_page(outgoing.alert.id))


def sms_validity(configured: int, expires: datetime | None) -> int:
    """Twilio's ValidityPeriod: the configured bound, shorter if the alert expires sooner (1..36000 s).

    A lockdown notice that would arrive after the alert expired is better dropped by Twilio.
    """
    seconds = configured
    if expires is not None:
        seconds = min(seconds, int((expires - datetime.now(UTC)).total_seconds()))
    return max(1, min(36000, seconds))
