"""Inspection and control endpoints for tests, the benchmark and demos (`/sim/...`, `/healthz`).

Also plays an official: `/sim/reply` sends the hub a signed inbound SMS, `/sim/press` presses a key on the
newest call to a number by posting to its `<Gather action>`.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urljoin
from xml.etree import ElementTree

from aiohttp import web

from alertnet.sim.context import SIM, Sim, json_response
from alertnet.sim.faults import Faults, FaultsError, parse_faults
from alertnet.sim.sendgrid import render_email
from alertnet.sim.store import KINDS
from alertnet.sim.twilio_common import API_VERSION, E164, inbound_sms_params, new_sid

routes = web.RouteTableDef()


def _problem(status: int, error: str, message: str) -> web.Response:
    return json_response({"error": error, "message": message}, status)


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        return _problem(400, "invalid_request", "body: not valid JSON")
    if not isinstance(body, dict):
        return _problem(400, "invalid_request", "body: must be a JSON object")
    return body


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 {"status": "ok"}."""
    return json_response({"status": "ok"})


@routes.get("/sim/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Everything received: ?kind=sms|voice|email, ?to=<address>, ?since=<unix time>, ?limit=<newest n>."""
    sim = request.app[SIM]
    kind = request.query.get("kind") or None
    if kind is not None and kind not in KINDS:
        return _problem(400, "invalid_request", f"kind: must be one of {', '.join(KINDS)}")
    try:
        since = float(request.query.get("since") or 0)
        limit = int(request.query["limit"]) if "limit" in request.query else None
    except ValueError:
        return _problem(400, "invalid_request", "since must be a number and limit an integer")
    found = sim.store.query(kind, request.query.get("to"), since)
    if limit is not None:
        found = found[-limit:] if limit > 0 else []
    shown = [render_email(r) if r["kind"] == "email" else r for r in found]
    return json_response(shown)


@routes.delete("/sim/messages")
async def reset_messages(request: web.Request) -> web.Response:
    """Forget every record and zero the counters."""
    request.app[SIM].store.reset()
    return web.Response(status=204)


@routes.get("/sim/stats")
async def stats(request: web.Request) -> web.Response:
    """Counts per kind, requests per status code, webhook outcomes and the current backlog."""
    sim = request.app[SIM]
    return json_response(sim.store.stats_json(sim.dispatcher.backlog))


@routes.get("/sim/faults")
async def get_faults(request: web.Request) -> web.Response:
    """The current fault settings."""
    return json_response(request.app[SIM].faults.to_json())


@routes.post("/sim/faults")
async def set_faults(request: web.Request) -> web.Response:
    """Replace the fault settings as a whole; unknown keys and bad values are a 400 naming the key."""
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    sim = request.app[SIM]
    try:
        sim.faults = parse_faults(body)
    except FaultsError as error:
        return json_response({"error": "invalid_request", "field": error.field, "message": str(error)}, 400)
    return json_response(sim.faults.to_json())


@routes.delete("/sim/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Back to no faults."""
    request.app[SIM].faults = Faults()
    return web.Response(status=204)


@routes.post("/sim/reply")
async def reply(request: web.Request) -> web.Response:
    """An official texts back: {"from": "+1573...", "body": "1", "to": optional hub number}.

    Posts a signed inbound-SMS webhook to the hub; "to" defaults to the sender of the last SMS to "from".
    Answers {"status", "body", "url", "params"} with the hub's status code and reply text (TwiML).
    """
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    sim = request.app[SIM]
    sender, text = body.get("from"), body.get("body")
    if not isinstance(sender, str) or not E164.fullmatch(sender):
        return _problem(400, "invalid_request", "from: must be an E.164 number such as +15735550123")
    if not isinstance(text, str):
        return _problem(400, "invalid_request", "body: must be a string")
    to = body.get("to") or sim.store.last_sender.get(sender)
    if not isinstance(to, str) or not to:
        return _problem(404, "not_found", f'from: no SMS was sent to {sender}; pass "to" (a hub number)')
    params = inbound_sms_params(sim.account_sid, new_sid("SM"), sender, to, text)
    return await _post_to_hub(sim, f"{sim.hub_url}/v1/webhooks/twilio/sms", params, "POST", {})


def _gather(twiml: str) -> tuple[str | None, str] | None:
    """The first <Gather>'s action (None: absent) and method, or None when the TwiML has no Gather."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return None
    for element in root.iter("Gather"):
        return element.get("action"), element.get("method") or "POST"
    return None


@routes.post("/sim/press")
async def press(request: web.Request) -> web.Response:
    """An official presses keys on a call: {"to": "+1573...", "digits": "1"}.

    Finds the newest call to "to" whose TwiML has a <Gather>, posts a signed form (CallSid, Digits, From,
    To, CallStatus=in-progress, AccountSid, ...) to its action (resolved against the call's Url; without an
    action, the Url itself, as Twilio does) and answers {"status", "body", "url", "call_sid", "params"}.
    """
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    sim = request.app[SIM]
    to, digits = body.get("to"), body.get("digits")
    if not isinstance(to, str) or not to:
        return _problem(400, "invalid_request", "to: the called number is required")
    if not isinstance(digits, str) or not digits:
        return _problem(400, "invalid_request", 'digits: a string of keys such as "1" is required')
    for record in reversed(sim.store.records["voice"]):
        if record["to"] != to or not record["twiml"]:
            continue
        gather = _gather(record["twiml"])
        if gather is None:
            continue
        action, method = gather
        base = record["url"] or ""
        target = urljoin(base, action) if action else base
        if not target.startswith(("http://", "https://")):
            continue
        params = {
            "AccountSid": sim.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": record["sid"],
            "CallStatus": "in-progress",
            "Called": record["to"],
            "Caller": record["from"],
            "Digits": digits,
            "Direction": "outbound-api",
            "FinishedOnKey": "",
            "From": record["from"],
            "To": record["to"],
            "msg": "Gather End",
        }
        response = await _post_to_hub(sim, target, params, method, {"call_sid": record["sid"]})
        record["presses"].append({"digits": digits, "url": target, "at": time.time()})
        return response
    return _problem(404, "not_found", f"to: no call to {to} has TwiML with a <Gather>")


async def _post_to_hub(
    sim: Sim, url: str, params: dict[str, str], method: str, extra: dict[str, Any]
) -> web.Response:
    # One attempt: a person replies once; retrying a 5xx could act on the reply twice.
    answer = await sim.dispatcher.send_form(url, params, method, retry=False)
    if answer.status == 0:
        return _problem(502, "hub_unreachable", f"could not reach {url}")
    return json_response(
        {"status": answer.status, "body": answer.body, "url": url, "params": params, **extra}
    )
