"""Voice calls through Twilio Programmable Voice.

The hub renders each call's TwiML (say the alert twice with its code, gather one digit) and hands it to
Twilio with the call, so a call plays even if the hub is busy when it is answered; only a TwiML longer
than Twilio's inline limit is fetched from the hub at answer time instead.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from typing import Any

from twilio.rest import Client

from alertnet.alerts import Channel
from alertnet.channels.base import OutgoingAlert, ProviderRecord, SendResult
from alertnet.channels.twilio_common import LOOKUP_LIMIT, accepted_since, close_async_client, paced_sends
from alertnet.contacts import Official
from alertnet.ratelimit import Pacer
from alertnet.receipts import Receipt, call_receipt
from alertnet.render import voice_twiml

# Only the final outcome feeds the hub (completed, busy, no-answer, failed): every extra event per call
# would be one more webhook request per official on a statewide call-out.
CALL_EVENTS = ["completed"]
INLINE_TWIML_LIMIT = 4000


def _receipt(call: Any) -> Receipt | None:
    return call_receipt(str(call.status or ""), str(call.answered_by or ""))


class TwilioVoice:
    channel = Channel.VOICE
    looks_up_status = True

    def __init__(self, client: Client, pacer: Pacer, *, max_in_flight: int) -> None:
        self.client = client
        self.pacer = pacer
        self.max_in_flight = max_in_flight

    def address(self, official: Official) -> str | None:
        return official.voice

    def send(self, outgoing: OutgoingAlert, recipients: list[Official]) -> AsyncGenerator[SendResult, None]:
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

    async def find_accepted(
        self, outgoing: OutgoingAlert, official: Official, since: float
    ) -> ProviderRecord | None:
        # A call resource names neither its TwiML nor its callback: any call from the hub to this number
        # since the attempt was claimed is taken as that attempt.
        for sender in self.pacer.senders:
            listed = await self.client.calls.list_async(to=official.voice, from_=sender, limit=LOOKUP_LIMIT)
            found = accepted_since(listed, since, lambda _call: True)
            if found is not None:
                return ProviderRecord(str(found.sid), _receipt(found))
        return None

    async def status(self, provider_id: str) -> Receipt | None:
        return _receipt(await self.client.calls(provider_id).fetch_async())

    async def close(self) -> None:
        await close_async_client(self.client)
