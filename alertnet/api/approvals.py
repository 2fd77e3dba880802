"""The two-person rule over HTTP: alerts waiting for a second director, and their approval or refusal."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alertnet.api.alerts import accepted_json
from alertnet.api.errors import error_response, read_json
from alertnet.api.keys import SERVICES, require_sender
from alertnet.services.errors import Conflict, NotFound, NotPermitted

routes = web.RouteTableDef()


def _refusal(error: Exception) -> web.Response:
    if isinstance(error, NotPermitted):
        return error_response(403, "forbidden", str(error))
    if isinstance(error, NotFound):
        return error_response(404, "not_found", str(error))
    return error_response(409, "conflict", str(error))


@routes.get("/v1/approvals")
async def pending(request: web.Request) -> web.Response:
    """Alerts still waiting for a second director, oldest first (directors and viewers)."""
    sender = await require_sender(request)
    try:
        return web.json_response({"pending": await request.app[SERVICES].approvals.pending(sender)})
    except NotPermitted as error:
        return _refusal(error)


@routes.get("/v1/approvals/{alert_id}")
async def held(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        found = await request.app[SERVICES].approvals.get(sender, request.match_info["alert_id"])
    except (NotPermitted, NotFound) as error:
        return _refusal(error)
    return web.json_response(found.view())


@routes.post("/v1/alerts/{alert_id}/approve")
async def approve(request: web.Request) -> web.Response:
    """A second director (never the author) sends the held alert."""
    sender = await require_sender(request)
    service = request.app[SERVICES]
    try:
        accepted = await service.approvals.approve(sender, request.match_info["alert_id"])
    except (NotPermitted, NotFound, Conflict) as error:
        return _refusal(error)
    return accepted_json(service.alerts, accepted)


@routes.post("/v1/alerts/{alert_id}/reject")
async def reject(request: web.Request) -> web.Response:
    """A second director refuses the held alert (optional body `{"reason": "..."}`): it is never sent."""
    sender = await require_sender(request)
    payload: Any = await read_json(request) if (await request.read()).strip() else {}
    try:
        found = await request.app[SERVICES].approvals.reject(sender, request.match_info["alert_id"], payload)
    except (NotPermitted, NotFound, Conflict) as error:
        return _refusal(error)
    return web.json_response(found.view())
