"""Provider webhooks: Twilio status callbacks, inbound SMS, keypresses and call TwiML; SendGrid events.

Handlers only route: the webhook service verifies each request (a bad or missing signature is a 403 and
nothing is recorded) and acts on it.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDict

from alertnet.api.errors import bad_request, error_response
from alertnet.api.keys import SERVICES, SETTINGS
from alertnet.services.errors import BadRequest, BadSignature, NotFound

routes = web.RouteTableDef()


async def _twilio(request: web.Request) -> tuple[str, MultiDict[str], str]:
    """The URL Twilio signed, the form parameters that arrived, and the signature; a body that is not a
    readable form is a 400 (before any signature check: nothing is recorded)."""
    try:
        form = await request.post()
    except (ValueError, AssertionError, LookupError) as error:  # bad encoding, boundary or charset
        await request.app[SERVICES].webhooks.rejected("twilio", "malformed")
        raise bad_request("invalid_request", "body", f"not a readable form ({error})") from None
    # Every pair that arrived, repeated names too: the signature covers all of them.
    params = MultiDict((key, str(value)) for key, value in form.items())
    url = request.app[SETTINGS].api.base_url + request.path_qs
    return url, params, request.headers.get("X-Twilio-Signature", "")


def _xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


def _refusal(error: Exception) -> web.Response:
    if isinstance(error, BadSignature):
        return web.json_response({"error": "forbidden", "message": str(error)}, status=403)
    if isinstance(error, NotFound):
        return error_response(404, "not_found", str(error))
    code = error.error if isinstance(error, BadRequest) else "invalid_request"
    return error_response(400, code, str(error))


@routes.post("/v1/webhooks/twilio/status")
async def sms_status(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICES].webhooks.twilio_sms_status(
            *await _twilio(request), request.query.get("d", "")
        )
    except (BadSignature, BadRequest) as error:
        return _refusal(error)
    return web.Response(status=204)


@routes.post("/v1/webhooks/twilio/call-status")
async def call_status(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICES].webhooks.twilio_call_status(
            *await _twilio(request), request.query.get("d", "")
        )
    except (BadSignature, BadRequest) as error:
        return _refusal(error)
    return web.Response(status=204)


@routes.post("/v1/webhooks/twilio/voice")
async def call_twiml(request: web.Request) -> web.Response:
    try:
        twiml = await request.app[SERVICES].webhooks.twilio_call_script(
            *await _twilio(request), request.query.get("d", "")
        )
    except (BadSignature, BadRequest, NotFound) as error:
        return _refusal(error)
    return _xml(twiml)


@routes.post("/v1/webhooks/twilio/sms")
async def inbound_sms(request: web.Request) -> web.Response:
    try:
        return _xml(await request.app[SERVICES].webhooks.twilio_inbound_sms(*await _twilio(request)))
    except BadSignature as error:
        return _refusal(error)


@routes.post("/v1/webhooks/twilio/gather")
async def gather(request: web.Request) -> web.Response:
    try:
        twiml = await request.app[SERVICES].webhooks.twilio_keypress(
            *await _twilio(request), request.query.get("d", "")
        )
    except BadSignature as error:
        return _refusal(error)
    return _xml(twiml)


@routes.post("/v1/webhooks/sendgrid/events")
async def sendgrid_events(request: web.Request) -> web.Response:
    headers = request.headers
    try:
        await request.app[SERVICES].webhooks.sendgrid_events(
            await request.read(),
            headers.get("X-Twilio-Email-Event-Webhook-Signature", ""),
            headers.get("X-Twilio-Email-Event-Webhook-Timestamp", ""),
        )
    except (BadSignature, BadRequest) as error:
        return _refusal(error)
    return web.Response(status=204)
