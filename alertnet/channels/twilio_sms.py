"""SMS through Twilio Programmable Messaging (the real SDK, async)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from twilio.rest import Client

from alertnet.alerts import Channel, Priority
from alertnet.channels.base import OutgoingAlert, SendResult
from alertnet.channels.twilio_common import classify_twilio_call, close_async_client
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

    async def send(self, outgoing: OutgoingAlert, recipients: list[Official]) -> AsyncIterator[SendResult]:
        body = sms_text(outgoing.alert, code=outgoing.code, link=outgoing.links.alert_page(outgoing.alert.id))
        critical = outgoing.alert.priority is Priority.CRITICAL
        gate = asyncio.Semaphore(self.max_in_flight)

        async def send_one(official: Official) -> SendResult:
            async with gate:
                sender = await self.pacer.acquire(critical=critical)
                did = outgoing.delivery_id(official.id)
                call = self.client.messages.create_async(
                    to=official.mobile,
                    from_=sender,
                    body=body,
                    status_callback=outgoing.links.sms_status(did),
                    validity_period=self.validity_seconds,
                )
                return await classify_twilio_call(official.id, call)

        for done in asyncio.as_completed([send_one(o) for o in recipients]):
            yield await done

    async def close(self) -> None:
        await close_async_client(self.client)
