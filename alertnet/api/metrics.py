"""`GET /metrics`: the whole deployment's figures for Prometheus (text format 0.0.4).

Not under /v1 and not a sender's: a scraper carries the `[metrics] token` (or, with none configured,
scrapes from the API's own host). What it shows is read from Redis by `alertnet.services.metrics`.
"""

from __future__ import annotations

from aiohttp import web

from alertnet.api.errors import error_response
from alertnet.api.keys import SERVICES
from alertnet.domain.metrics import FORWARDING_HEADERS

routes = web.RouteTableDef()
REFUSED = {
    401: ("unauthorized", "a bearer token is required to read the metrics ([metrics] token)"),
    403: ("forbidden", "without [metrics] token the metrics are served only to clients on the API's host"),
}


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICES].metrics
    forwarded = any(name in request.headers for name in FORWARDING_HEADERS)
    refusal = service.refusal(request.headers.get("Authorization", ""), request.remote or "", forwarded)
    if refusal:
        return error_response(refusal, *REFUSED[refusal])
    response = web.Response(body=await service.exposition())
    response.headers["Content-Type"] = service.content_type
    return response
