"""/v1/drills: plan a notification drill, send its Exercise alerts, read its after-action report (JSON,
CSV, printable HTML), keep its improvement plan; /v1/reports/participation: the plan's figures for a
school year. Directors plan and edit; directors and viewers read."""

from __future__ import annotations

from aiohttp import web

from alertnet.api.alerts import accepted_json, sent_before_json
from alertnet.api.errors import REFUSALS, field_errors, read_json, refusal
from alertnet.api.keys import SERVICES, require_sender
from alertnet.content.drill_reports import drill_csv, drill_html, participation_csv
from alertnet.domain.errors import FieldError
from alertnet.services.once import HEADER as IDEMPOTENCY_KEY
from alertnet.services.once import SentBefore

routes = web.RouteTableDef()
FORMATS = ("json", "csv", "html")


def _format(request: web.Request, allowed: tuple[str, ...]) -> str | None:
    chosen = request.query.get("format", "json")
    return chosen if chosen in allowed else None


def _bad_format(allowed: tuple[str, ...]) -> web.Response:
    return field_errors([FieldError("format", f"must be one of {', '.join(allowed)}")])


@routes.post("/v1/drills")
async def plan_drill(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    payload = await read_json(request)
    try:
        drill = await request.app[SERVICES].drills.plan(sender, payload)
    except REFUSALS as error:
        return refusal(error)
    location = f"/v1/drills/{drill['id']}/report"
    return web.json_response(drill, status=201, headers={"Location": location})


@routes.post("/v1/drills/{drill_id}/alerts")
async def drill_alert(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    drill_id = request.match_info["drill_id"]
    service = request.app[SERVICES]
    try:
        await service.drills.require_planner(sender, drill_id, "send_drill_alert")
        payload = await read_json(request)
        key = request.headers.get(IDEMPOTENCY_KEY)
        accepted = await service.drills.send_alert(sender, drill_id, payload, key=key)
    except REFUSALS as error:
        return refusal(error)
    if isinstance(accepted, SentBefore):
        return sent_before_json(service.alerts, accepted)
    return accepted_json(service.alerts, accepted)


@routes.get("/v1/drills/{drill_id}/report")
async def drill_report(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    chosen = _format(request, FORMATS)
    try:
        report = await request.app[SERVICES].drills.report(sender, request.match_info["drill_id"])
    except REFUSALS as error:
        return refusal(error)
    if chosen is None:
        return _bad_format(FORMATS)
    name = f"{report['drill']['id']}-report"
    if chosen == "csv":
        disposition = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
        return web.Response(text=drill_csv(report), content_type="text/csv", headers=disposition)
    if chosen == "html":
        return web.Response(text=drill_html(report), content_type="text/html")
    return web.json_response(report)


@routes.post("/v1/drills/{drill_id}/improvements")
async def add_improvement(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    drill_id = request.match_info["drill_id"]
    service = request.app[SERVICES].drills
    try:
        await service.require_planner(sender, drill_id, "edit_improvement_plan")
        row = await service.add_improvement(sender, drill_id, await read_json(request))
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(row, status=201)


@routes.patch("/v1/drills/{drill_id}/improvements/{improvement}")
async def change_improvement(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    drill_id = request.match_info["drill_id"]
    service = request.app[SERVICES].drills
    try:
        await service.require_planner(sender, drill_id, "edit_improvement_plan")
        payload = await read_json(request)
        row = await service.change_improvement(sender, drill_id, request.match_info["improvement"], payload)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(row)


@routes.get("/v1/reports/participation")
async def participation(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    allowed = ("json", "csv")
    chosen = _format(request, allowed)
    try:
        report = await request.app[SERVICES].drills.participation(sender, request.query.get("school_year"))
    except REFUSALS as error:
        return refusal(error)
    if chosen is None:
        return _bad_format(allowed)
    if chosen == "csv":
        name = f"participation-{report['school_year']}.csv"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        return web.Response(text=participation_csv(report), content_type="text/csv", headers=disposition)
    return web.json_response(report)
