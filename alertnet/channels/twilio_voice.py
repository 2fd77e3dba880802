"""Voice calls through Twilio Programmable Voice: the call fetches its TwiML from the hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from twilio.rest import Client

from alertnet.alerts import Channel, Priority
from alertnet.channels.base import OutgoingAlert, SendResult
from alertnet.channels.twilio_common import classify_twilio_call, close_async_client
from alertnet.contacts import Official
from alertnet.ratelimit import Pacer

CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioVoice:
    channel = Channel.VOICE

    def __init__(self, client: Client, pacer: Pacer, *, max_in_flight: int) -> None:
        self.client = client
        self.pacer = pacer
        self.max_in_flight = max_in_flight

    def address(self, official: Official) -> str | None:
        return official.voice

    async def send(self, outgoing: OutgoingAlert, recipients: list[Official]) -> AsyncIterator[SendResult]:
        critical = outgoing.alert.priority is Priority.CRITICAL
        gate = asyncio.Semaphore(self.max_in_flight)

        async def call_one(official: Official) -> SendResult:
            async with gate:
                sender = await self.pacer.acquire(critical=critical)
                did = outgoing.delivery_id(official.id)
                call = self.client.calls.create_async(
                    to=official.voice,
                    from_=sender,
                    url=outgoing.links.call_twiml(did),
                    status_callback=outgoing.links.call_status(did),
                    status_callback_event=CALL_EVENTS,
                    machine_detection="Enable",
                )
                return await classify_twilio_call(official.id, call)

        for done in asyncio.as_completed([call_one(o) for o in recipients]):
            yield await done

    async def close(self) -> None:
        await close_async_client(self.client)
