"""Voice calls through Twilio Programmable Voice.

The message's script becomes the call's TwiML here (say each pass, gather one digit), handed to Twilio
with the call, so a call plays even if the hub is busy when it is answered; only a TwiML longer than
Twilio's inline limit is fetched from the hub at answer time instead.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, Awaitable
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit
from xml.sax.saxutils import escape

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from alertnet.channels.base import Envelope, Match, Outgoing, ProviderRecord, SenderPool, SendResult
from alertnet.channels.twilio_common import (
    LOOKUP_LIMIT,
    FormEncoded,
    accepted_since,
    close_async_client,
    paced_sends,
)
from alertnet.channels.twilio_webhooks import call_receipt
from alertnet.domain.links import Links
from alertnet.domain.messages import Channel, VoiceScript
from alertnet.domain.receipts import Receipt

# Only the final outcome feeds the hub (completed, busy, no-answer, failed): every extra event per call
# would be one more webhook request per official on a statewide call-out.
CALL_EVENTS = ["completed"]
INLINE_TWIML_LIMIT = 4000
EVENTS_LIMIT = 50


def voice_twiml(script: VoiceScript, *, gather_action: str | None) -> str:
    """TwiML for a call: each pass of the script, then (with ``gather_action`` and a prompt) the passes
    and the prompt inside ``<Gather numDigits="1" action=... method="POST">``, followed by a final
    ``<Say>`` for callers who press nothing."""
    response = VoiceResponse()
    if gather_action is not None and script.ack_prompt:
        gather = response.gather(num_digits=1, action=gather_action, method="POST")
        for text in script.passes:
            gather.say(text, language="en-US")
            gather.pause(length=1)
        gather.say(script.ack_prompt, language="en-US")
        response.say(script.closing_after_prompt, language="en-US")
    else:
        for text in script.passes:
            response.say(text, language="en-US")
            response.pause(length=1)
        response.say(script.closing, language="en-US")
    return str(response.to_xml(xml_declaration=True))


# What ElementTree escapes in an attribute value besides &, < and >.
ATTRIBUTE_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#09;"}


class CallTwiml:
    """A batch's call TwiML, built and form-encoded once: the calls differ only in their gather action
    (which names the delivery), spliced in per call where a one-off mark stands in the built document."""

    def __init__(self, script: VoiceScript) -> None:
        self.mark = "gather-" + secrets.token_hex(16)
        self.text = voice_twiml(script, gather_action=self.mark)
        self.encoded = quote_plus(self.text)
        self.gathers = self.mark in self.text

    def for_call(self, gather_action: str) -> FormEncoded:
        """`voice_twiml(script, gather_action=gather_action)`, with its form encoding."""
        if not self.gathers:
            return FormEncoded(self.text, self.encoded)
        action = escape(gather_action, ATTRIBUTE_ENTITIES)
        return FormEncoded(
            self.text.replace(self.mark, action), self.encoded.replace(self.mark, quote_plus(action))
        )


def _receipt(call: Any) -> Receipt | None:
    return call_receipt(str(call.status or ""), str(call.answered_by or ""))


class TwilioVoice:
    channel = Channel.VOICE
    looks_up_status = True

    def __init__(self, client: Client, pool: SenderPool, links: Links, *, max_in_flight: int) -> None:
        self.client = client
        self.pool = pool
        self.links = links
        self.max_in_flight = max_in_flight

    def send(self, outgoing: Outgoing, envelopes: list[Envelope]) -> AsyncGenerator[SendResult, None]:
        script = outgoing.content.voice
        if script is None:
            raise ValueError(f"message {outgoing.message_id} has no voice content")
        built = CallTwiml(script)

        def create(envelope: Envelope, sender: str) -> Awaitable[Any]:
            did = envelope.delivery_id
            twiml = built.for_call(self.links.call_gather(did))
            source = (
                {"twiml": twiml} if len(twiml) <= INLINE_TWIML_LIMIT else {"url": self.links.call_twiml(did)}
            )
            call: Awaitable[Any] = self.client.calls.create_async(
                to=envelope.address,
                from_=sender,
                **source,
                status_callback=self.links.call_status(did),
                status_callback_event=CALL_EVENTS,
                machine_detection="Enable",
            )
            return call

        return paced_sends(
            outgoing, envelopes, pool=self.pool, max_in_flight=self.max_in_flight, create=create
        )

    async def find_accepted(
        self, outgoing: Outgoing, envelope: Envelope, since: float
    ) -> list[ProviderRecord]:
        """The calls from the hub's numbers to this number since `since`, each with whose it is.

        Twilio's Call resource names neither the call's TwiML nor its StatusCallback, so the number and
        the time alone would take another delivery's call to the same number (an escalation's call, an
        office line two officials share) for the lost one. What does name the delivery is what Twilio
        asked the hub for the call: every webhook URL the hub gives a call carries its delivery id, and
        Twilio lists those requests under the call (its Events subresource, minutes after the call
        ended). A call whose requests name this delivery is OURS, another delivery's is OTHER; one with
        none listed yet (ringing, just ended, or a provider that cannot say) is only ADDRESS. The caller
        also leaves out every call whose sid the hub itself recorded as another delivery's (the answer to
        its create, or a status callback, whose URL carries the delivery id), and when an ADDRESS call is
        left it asks again later rather than take it or call a second time.
        """
        found: list[ProviderRecord] = []
        for sender in self.pool.senders:
            listed = await self.client.calls.list_async(to=envelope.address, from_=sender, limit=LOOKUP_LIMIT)
            for call in accepted_since(listed, since, lambda _call: True):
                whose = await self._whose(str(call.sid), envelope.delivery_id)
                found.append(ProviderRecord(str(call.sid), _receipt(call), whose))
        return found

    async def _whose(self, call_sid: str, delivery_id: str) -> Match:
        """Whose call this is, by the delivery ids in the URLs Twilio requested for it."""
        try:
            events = await self.client.calls(call_sid).events.list_async(limit=EVENTS_LIMIT)
        except (TwilioRestException, TimeoutError, aiohttp.ClientError):
            return Match.ADDRESS  # cannot say: unknown, never "not ours"
        named = {self._delivery_in(event.request) for event in events} - {""}
        if delivery_id in named:
            return Match.OURS
        return Match.OTHER if named else Match.ADDRESS

    def _delivery_in(self, request: object) -> str:
        """The delivery id in a hub URL Twilio requested ("" for none, or another site's URL)."""
        url = request.get("url") if isinstance(request, dict) else None
        if not isinstance(url, str) or not url.startswith(self.links.base_url + "/"):
            return ""
        return parse_qs(urlsplit(url).query).get("d", [""])[0]

    async def status(self, provider_id: str) -> Receipt | None:
        return _receipt(await self.client.calls(provider_id).fetch_async())

    async def close(self) -> None:
        await close_async_client(self.client)
