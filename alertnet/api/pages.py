"""The alert's own page (the short link in every SMS): the whole alert and its verification."""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

from alertnet.api.keys import SERVICE
from alertnet.service import NotFound

routes = web.RouteTableDef()
TEMPLATES = Path(__file__).resolve().parent.parent.parent / "config" / "templates"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html", "j2"])
)


@routes.get("/a/{alert_id}")
async def alert_page(request: web.Request) -> web.Response:
    alert_id = request.match_info["alert_id"]
    service = request.app[SERVICE]
    try:
        verification = await service.verify_alert(alert_id)
        record, _progress = await service.alert_status(alert_id)
    except NotFound:
        return web.Response(status=404, text="No such alert.", content_type="text/plain")
    html = _env.get_template("alert_page.html.j2").render(
        alert=record["alert"], verification=verification, public_key=service.signer.public_key_b64
    )
    return web.Response(text=html, content_type="text/html")
