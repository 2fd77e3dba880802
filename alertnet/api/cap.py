"""CAP 1.2 over HTTP: an alert's signed CAP document, the public Atom feed, and CAP documents posted to
``POST /v1/alerts`` (``Content-Type: application/cap+xml``; `alertnet.api.alerts` hands them here).

A public alert's CAP document and the feed need no token; any other alert's document needs a sender's
token, like ``GET /v1/alerts/{id}``. Without a token, an alert that is not public and one that does not
exist get the same 401, so the document cannot be used to learn which alerts exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from alertnet.api.errors import bad_request, error_response, field_errors
from alertnet.api.keys import SERVICES, require_sender
from alertnet.domain.alert_request import AlertValidationError
from alertnet.domain.approvals import HeldAlert
from alertnet.domain.senders import Sender
from alertnet.services.alerts import AcceptedAlert
from alertnet.services.cap import NotPublic, TakenBefore
from alertnet.services.cap_xml import CapUnreadable
from alertnet.services.errors import Conflict, Forbidden, NotFound

routes = web.RouteTableDef()
CAP_TYPE = "application/cap+xml"
ATOM_TYPE = "application/atom+xml"


def is_cap(request: web.Request) -> bool:
    """The request's body is a CAP document."""
    return request.content_type == CAP_TYPE


@routes.get("/v1/alerts/{alert_id}/cap")
async def cap_document(request: web.Request) -> web.Response:
    alert_id = request.match_info["alert_id"]
    authorized = "Authorization" in request.headers
    if authorized:
        await require_sender(request)
    try:
        body = await request.app[SERVICES].cap.document(alert_id, authorized=authorized)
    except (NotPublic, NotFound):
        if not authorized:
            await require_sender(request)  # no token: a 401 (audited), whether the alert exists or not
        return error_response(404, "not_found", f"alert_id: no alert with id '{alert_id}'")
    return web.Response(body=body, content_type=CAP_TYPE)


@routes.get("/v1/alerts.atom")
async def public_feed(request: web.Request) -> web.Response:
    return web.Response(body=await request.app[SERVICES].cap.feed(), content_type=ATOM_TYPE)


async def post_cap_alert(
    request: web.Request, sender: Sender, accepted_json: Callable[[Any, AcceptedAlert], web.Response]
) -> web.Response:
    """``POST /v1/alerts`` with a CAP document: the answers of a JSON alert, and 200 for a CAP message
    (sender, identifier, sent) taken in before (nothing is sent again)."""
    services = request.app[SERVICES]
    body = await request.read()
    try:
        accepted = await services.cap.submit(sender, body)
    except Forbidden as error:
        return error_response(403, "forbidden", str(error), allowed=error.allowed)
    except CapUnreadable as error:
        raise bad_request("invalid_xml", "body", str(error)) from None
    except AlertValidationError as error:
        return field_errors(error.errors)
    except Conflict as error:
        return error_response(409, "conflict", str(error))
    if isinstance(accepted, TakenBefore):
        return web.json_response(
            {
                "id": accepted.alert_id,
                "duplicate": True,
                "cap": accepted.origin,
                "links": {
                    "self": f"/v1/alerts/{accepted.alert_id}",
                    "cap": f"/v1/alerts/{accepted.alert_id}/cap",
                },
            }
        )
    if isinstance(accepted, HeldAlert):
        return web.json_response(accepted.view(), status=202)
    return accepted_json(services.alerts, accepted)
