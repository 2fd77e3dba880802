"""Voice calls through Twilio Programmable Voice.

The hub renders each call's TwiML (say the alert twice with its code, gather one digit) and hands it to
Twilio with the call, so a call plays even if the hub is busy when it is answered; only a TwiML longer
than Twilio's inline limit is fetched from the hub at answer time instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

from twilio.rest import Client

from alertnet.alerts import Channel
from alertnet.channels.base import OutgoingAlert, SendResult
from alertnet.channels.twilio_common import close_async_client, paced_sends
from alertnet.contacts import Official
from alertnet.ratelimit import Pacer
from alertnet.render import voice_twiml

# Only the final outcome feeds the hub (completed, busy, no-answer, failed): every extra event per call
# would be one more webhook request per official on a statewide call-out.
CALL_EVENTS = ["completed"]
INLINE_TWIML_LIMIT = 4000


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
            twiml = voice_twiml(
                outgoing.alert, code=outgoing.code, gather_action=outgoing.links.call_gather(did)
            )
            source = (
                {"twiml": twiml}
                if len(twiml) <= INLINE_TWIML_LIMIT
                else {"url": outgoing.links.call_twiml(did)}
            )
            call: Awaitable[Any] = self.client.calls.create_async(
                to=official.voice,
                from_=sender,
                **source,
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
