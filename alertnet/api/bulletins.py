"""/v1/bulletins: cyber threat bulletins under TLP 2.0, for their publishers and readers; /b/{token}: an
official's personal link to one."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from alertnet.api.errors import REFUSALS, read_json, refusal
from alertnet.api.keys import SERVICES, require_sender
from alertnet.services.bulletin_reading import OfficialView

routes = web.RouteTableDef()

BULLETIN_ID = re.compile(r"^bul_[0-9a-f]{16}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{1,64}$")
# Personal pages and exports of restricted information: never cached, never sent on as a referrer.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _bulletin_id(request: web.Request) -> str:
    raw = request.match_info["bulletin_id"]
    if not BULLETIN_ID.match(raw):
        raise web.HTTPNotFound(
            text=json.dumps({"error": "not_found", "message": f"bulletin: no bulletin {raw[:40]!r}"}),
            content_type="application/json",
        )
    return raw


@routes.post("/v1/bulletins")
async def publish(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    payload = await read_json(request)
    try:
        view = await request.app[SERVICES].bulletins.publish(sender, payload)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(view, status=201, headers={"Location": view["links"]["self"]})


@routes.get("/v1/bulletins")
async def list_bulletins(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    return web.json_response({"bulletins": await request.app[SERVICES].bulletins.list(sender)})


@routes.get("/v1/bulletins/{bulletin_id}")
async def get_bulletin(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        view = await request.app[SERVICES].bulletins.get(sender, _bulletin_id(request))
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(view, headers={"Cache-Control": "no-store"})


@routes.patch("/v1/bulletins/{bulletin_id}")
async def change(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    bulletin_id = _bulletin_id(request)
    payload = await read_json(request)
    try:
        view = await request.app[SERVICES].bulletins.change(sender, bulletin_id, payload)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(view)


@routes.post("/v1/bulletins/{bulletin_id}/retract")
async def retract(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    bulletin_id = _bulletin_id(request)
    payload: Any = await read_json(request) if (await request.read()).strip() else None
    try:
        view = await request.app[SERVICES].bulletins.retract(sender, bulletin_id, payload)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(view)


@routes.get("/v1/bulletins/{bulletin_id}/stix")
async def stix(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    bulletin_id = _bulletin_id(request)
    try:
        bundle = await request.app[SERVICES].bulletins.export(sender, bulletin_id, "stix")
    except REFUSALS as error:
        return refusal(error)
    headers = {**PRIVATE, "Content-Disposition": f'attachment; filename="{bulletin_id}.stix.json"'}
    return web.json_response(bundle, headers=headers)


@routes.get("/v1/bulletins/{bulletin_id}/indicators.csv")
async def indicators(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    bulletin_id = _bulletin_id(request)
    try:
        text = await request.app[SERVICES].bulletins.export(sender, bulletin_id, "csv")
    except REFUSALS as error:
        return refusal(error)
    headers = {**PRIVATE, "Content-Disposition": f'attachment; filename="{bulletin_id}-indicators.csv"'}
    return web.Response(text=str(text), content_type="text/csv", headers=headers)


@routes.get("/v1/bulletins/{bulletin_id}/access")
async def access(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        view = await request.app[SERVICES].bulletins.access(sender, _bulletin_id(request))
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(view)


def _official(view: OfficialView) -> web.Response:
    headers = dict(PRIVATE)
    if view.filename:
        headers["Content-Disposition"] = f'attachment; filename="{view.filename}"'
    return web.Response(status=view.status, text=view.body, content_type=view.content_type, headers=headers)


async def _personal(request: web.Request, what: str) -> web.Response:
    token = request.match_info["token"]
    if not TOKEN.match(token):
        return _official(await request.app[SERVICES].bulletins.official_view("x.y", what))
    return _official(await request.app[SERVICES].bulletins.official_view(token, what))


@routes.get("/b/{token}")
async def personal_page(request: web.Request) -> web.Response:
    return await _personal(request, "page")


@routes.get("/b/{token}/stix")
async def personal_stix(request: web.Request) -> web.Response:
    return await _personal(request, "stix")


@routes.get("/b/{token}/indicators.csv")
async def personal_csv(request: web.Request) -> web.Response:
    return await _personal(request, "csv")
