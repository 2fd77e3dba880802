"""Voice calls through Twilio Programmable Voice: the call fetches its TwiML from the hub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

from twilio.rest import Client

from alertnet.alerts import Channel
from alertnet.channels.base import OutgoingAlert, SendResult
from alertnet.channels.twilio_common import close_async_client, paced_sends
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

    def send(self, outgoing: OutgoingAlert, recipients: list[Official]) -> AsyncIterator[SendResult]:
        def create(official: Official, sender: str, did: str) -> Awaitable[Any]:
            call: Awaitable[Any] = self.client.calls.create_async(
                to=official.voice,
                from_=sender,
                url=outgoing.links.call_twiml(did),
                status_callback=outgoing.links.call_status(did),
                status_callback_event=CALL_EVENTS,
                machine_detection="Enable",
            )
            return call

        return paced_sends(
            outgoing, recipients, pacer=self.pacer, max_in_flight=self.max_in_flight, create=create
        )

    async def close(self) -> None:
        await close_async_client(self.client)
