"""/v1/audit: the audit trail, newest first: every accepted or refused send and ack; `?stream=refused`
lists the requests refused for missing or bad credentials."""

from __future__ import annotations

from aiohttp import web

from alertnet.api.errors import error_response, field_errors, whole_number
from alertnet.api.keys import SERVICES, require_sender
from alertnet.domain.errors import FieldError
from alertnet.services.errors import MayNotRead

routes = web.RouteTableDef()
MAX_ENTRIES = 1000


@routes.get("/v1/audit")
async def audit_trail(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    limit = whole_number(request.query.get("limit", "100"), 1, MAX_ENTRIES)
    if limit is None:
        return field_errors([FieldError("limit", f"must be a whole number from 1 to {MAX_ENTRIES}")])
    stream = request.query.get("stream", "trail")
    if stream not in ("trail", "refused"):
        return field_errors([FieldError("stream", "must be 'trail' (the default) or 'refused'")])
    try:
        entries = await request.app[SERVICES].audit.trail(sender, limit, refused=stream == "refused")
    except MayNotRead as error:
        return error_response(403, "forbidden", str(error))
    return web.json_response({"entries": entries})
