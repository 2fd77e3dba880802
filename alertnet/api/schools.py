"""/v1/alerts/{id}/schools: every school an alert targeted, reached (one of its officials acknowledged) or
not, not reached first (directors and viewers); /v1/alerts/{id}/answers: the answers to its poll."""

from __future__ import annotations

from aiohttp import web

from alertnet.api.errors import error_response
from alertnet.api.keys import SERVICES, require_sender
from alertnet.services.errors import MayNotRead, NotFound

routes = web.RouteTableDef()


@routes.get("/v1/alerts/{alert_id}/schools")
async def alert_schools(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    alert_id = request.match_info["alert_id"]
    try:
        found = await request.app[SERVICES].schools.schools_json(sender, alert_id)
    except MayNotRead as error:
        return error_response(403, "forbidden", str(error))
    except NotFound:
        return error_response(404, "not_found", f"alert_id: no alert with id '{alert_id}'")
    return web.Response(text=found, content_type="application/json")


@routes.get("/v1/alerts/{alert_id}/answers")
async def alert_answers(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    alert_id = request.match_info["alert_id"]
    try:
        found = await request.app[SERVICES].polls.answers(sender, alert_id)
    except MayNotRead as error:
        return error_response(403, "forbidden", str(error))
    except NotFound:
        return error_response(404, "not_found", f"alert_id: no alert with id '{alert_id}'")
    return web.json_response(found)
