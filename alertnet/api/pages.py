"""The alert's own page (the short link in every SMS): the whole alert and its verification."""

from __future__ import annotations

from aiohttp import web

from alertnet.api.keys import SERVICES
from alertnet.content.pages import alert_page_html
from alertnet.services.errors import NotFound

routes = web.RouteTableDef()


@routes.get("/a/{alert_id}")
async def alert_page(request: web.Request) -> web.Response:
    alert_id = request.match_info["alert_id"]
    service = request.app[SERVICES].alerts
    try:
        verification = await service.verify_alert(alert_id)
        record, _progress = await service.alert_status(alert_id)
    except NotFound:
        return web.Response(status=404, text="No such alert.", content_type="text/plain")
    html = alert_page_html(record["alert"], verification, public_key=service.public_key()["public_key"])
    return web.Response(text=html, content_type="text/html")
