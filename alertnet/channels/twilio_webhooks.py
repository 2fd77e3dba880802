"""What Twilio sends the hub: signed status callbacks, inbound SMS and keypresses, read into receipts.

Twilio requests are verified with the SDK's RequestValidator over whatever parameters arrive (Twilio adds
parameters without notice). Twilio's status names live here, next to the code that sends to Twilio.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator, compare
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from alertnet.domain.deliveries import DeliveryState
from alertnet.domain.receipts import ACCEPTED, DELIVERED, Receipt, failed, with_reason

SMS_STATUS: dict[str, Receipt] = {
    "accepted": ACCEPTED,
    "queued": ACCEPTED,
    "sending": ACCEPTED,
    "sent": ACCEPTED,
    "delivered": DELIVERED,
    "undelivered": failed("undelivered"),
    "failed": failed("failed"),
}

CALL_STATUS: dict[str, Receipt] = {
    "queued": ACCEPTED,
    "initiated": ACCEPTED,
    "ringing": ACCEPTED,
    "in-progress": ACCEPTED,
    "answered": ACCEPTED,
    "completed": DELIVERED,
    "busy": failed("busy"),
    "no-answer": failed("no-answer"),
    "failed": failed("failed"),
    "canceled": failed("canceled"),
}


def sms_receipt(status: str, error_code: str = "") -> Receipt | None:
    receipt = SMS_STATUS.get(status.lower())
    if receipt is not None and error_code and receipt.to is DeliveryState.FAILED:
        return with_reason(receipt, f"{receipt.reason} (error {error_code})")
    return receipt


def call_receipt(status: str, answered_by: str = "") -> Receipt | None:
    receipt = CALL_STATUS.get(status.lower())
    if receipt is DELIVERED and answered_by:
        # A machine answering is recorded as such: escalation treats voicemail differently from a person.
        return with_reason(receipt, f"answered_by={answered_by}")
    return receipt


class TwilioWebhooks:
    """Reads and answers Twilio's requests to the hub; built once from the account's auth token."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def verify(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        """True when `signature` (X-Twilio-Signature) matches the URL and every parameter that arrived.

        `params` as they arrived (a MultiDict keeps repeated names; the SDK reads it without a lookup
        failing per name). Twilio signs the URL the hub gave it, so a genuine request passes on the
        first signature computed over it; anything else gets the SDK's whole check (the URL with and
        without its port, a JSON body's hash), which computes two.
        """
        if not signature:
            return False
        if "bodySHA256" not in url and compare(self._validator.compute_signature(url, params), signature):
            return True
        return bool(self._validator.validate(url, params, signature))

    @staticmethod
    def sms_status(params: Mapping[str, str]) -> tuple[Receipt | None, str]:
        """(receipt, message sid) of a Messaging status callback."""
        return sms_receipt(params.get("MessageStatus", ""), params.get("ErrorCode", "")), params.get(
            "MessageSid", ""
        )

    @staticmethod
    def call_status(params: Mapping[str, str]) -> tuple[Receipt | None, str]:
        """(receipt, call sid) of a Voice status callback."""
        return call_receipt(params.get("CallStatus", ""), params.get("AnsweredBy", "")), params.get(
            "CallSid", ""
        )

    @staticmethod
    def sms_reply(text: str) -> str:
        """TwiML that answers an inbound SMS with `text`."""
        reply = MessagingResponse()
        reply.message(text)
        return str(reply)

    @staticmethod
    def empty_reply() -> str:
        """TwiML that sends nothing back."""
        return str(MessagingResponse())

    @staticmethod
    def say(text: str) -> str:
        """TwiML that says `text` and hangs up (the answer to a keypress)."""
        response = VoiceResponse()
        response.say(text)
        return str(response)
