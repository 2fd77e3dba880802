"""Provider webhooks: Twilio status callbacks and call TwiML, SendGrid events.

Twilio requests are verified with the SDK's RequestValidator over whatever parameters arrive (Twilio adds
parameters without notice); a bad or missing signature is a 403 and nothing is recorded.
"""

from __future__ import annotations

import binascii
import json
import time

from aiohttp import web
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from alertnet.api.errors import error_response
from alertnet.api.keys import SERVICE, SETTINGS
from alertnet.deliveries import DeliveryState
from alertnet.receipts import Receipt, call_receipt, email_receipt, sms_receipt
from alertnet.render import voice_twiml

routes = web.RouteTableDef()
VALIDATOR = web.AppKey("twilio_validator", RequestValidator)


async def signed_form(request: web.Request) -> dict[str, str]:
    """The form parameters of a Twilio request whose signature holds; raises 403 otherwise."""
    form = await request.post()
    params = {key: str(value) for key, value in form.items()}
    url = request.app[SETTINGS].api.base_url + request.path_qs
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not request.app[VALIDATOR].validate(url, params, signature):
        raise web.HTTPForbidden(
            text='{"error": "forbidden", "message": "X-Twilio-Signature: missing or does not match"}',
            content_type="application/json",
        )
    return params


def _delivery_id(request: web.Request) -> str:
    did = request.query.get("d", "")
    if not did:
        raise web.HTTPBadRequest(
            text='{"error": "invalid_request", "message": "d: delivery id query parameter is required"}',
            content_type="application/json",
        )
    return did


async def _apply(request: web.Request, did: str, receipt: Receipt | None, provider_id: str) -> web.Response:
    if receipt is not None:
        await request.app[SERVICE].apply_receipts({did: (receipt, provider_id)})
    return web.Response(status=204)


@routes.post("/v1/webhooks/twilio/status")
async def sms_status(request: web.Request) -> web.Response:
    params = await signed_form(request)
    receipt = sms_receipt(params.get("MessageStatus", ""), params.get("ErrorCode", ""))
    return await _apply(request, _delivery_id(request), receipt, params.get("MessageSid", ""))


@routes.post("/v1/webhooks/twilio/call-status")
async def call_status(request: web.Request) -> web.Response:
    params = await signed_form(request)
    receipt = call_receipt(params.get("CallStatus", ""), params.get("AnsweredBy", ""))
    return await _apply(request, _delivery_id(request), receipt, params.get("CallSid", ""))


@routes.post("/v1/webhooks/twilio/voice")
async def call_twiml(request: web.Request) -> web.Response:
    await signed_form(request)
    did = _delivery_id(request)
    service = request.app[SERVICE]
    found = await service.outgoing_for_delivery(did)
    if found is None:
        return error_response(404, "not_found", f"d: no delivery '{did}'")
    alert, code = found
    twiml = voice_twiml(alert, code=code, gather_action=service.links.call_gather(did))
    return web.Response(text=twiml, content_type="application/xml")


EVENT_KEY = web.AppKey("sendgrid_event_key", EventWebhook)
EVENT_MAX_AGE_SECONDS = 600


async def signed_events(request: web.Request) -> bytes:
    """The raw body of a SendGrid Event Webhook POST whose ECDSA signature holds; raises 403 otherwise."""
    body = await request.read()
    signature = request.headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
    stamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    verifier = request.app[EVENT_KEY]
    fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= EVENT_MAX_AGE_SECONDS
    try:
        # No configured key (sendgrid.event_public_key) means nothing can be verified: refuse.
        valid = bool(verifier.public_key and fresh and signature) and verifier.verify_signature(
            body.decode("utf-8"), signature, stamp
        )
    except (ValueError, UnicodeDecodeError, binascii.Error):
        valid = False
    if not valid:
        message = "X-Twilio-Email-Event-Webhook-Signature: missing, stale or does not match"
        raise web.HTTPForbidden(
            text=json.dumps({"error": "forbidden", "message": message}), content_type="application/json"
        )
    return body


@routes.post("/v1/webhooks/sendgrid/events")
async def sendgrid_events(request: web.Request) -> web.Response:
    body = await signed_events(request)
    try:
        events = json.loads(body)
    except json.JSONDecodeError:
        return error_response(400, "invalid_json", "body: not valid JSON")
    if not isinstance(events, list):
        return error_response(400, "invalid_request", "body: must be a JSON array of events")
    receipts: dict[str, tuple[Receipt, str]] = {}
    for event in events:
        if not isinstance(event, dict):
            continue
        did = event.get("delivery_id")
        receipt = email_receipt(str(event.get("event", "")), str(event.get("reason", "")))
        if isinstance(did, str) and receipt is not None:
            previous = receipts.get(did)
            # Keep the furthest-along event of a batch (delivered beats processed).
            if previous is None or _rank(receipt) >= _rank(previous[0]):
                receipts[did] = (receipt, str(event.get("sg_message_id", "")).split(".")[0])
    await request.app[SERVICE].apply_receipts(receipts)
    return web.Response(status=204)


def _rank(receipt: Receipt) -> int:
    return 1 if receipt.to is DeliveryState.SENT else 2
