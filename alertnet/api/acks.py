"""Acknowledgements over HTTP: the email link's page and the operator's API, with the after-action report.

(Replies by SMS and keypresses arrive as provider webhooks: `alertnet.api.webhooks`.)
"""

from __future__ import annotations

from aiohttp import web

from alertnet.api.errors import error_response, field_errors, read_json
from alertnet.api.keys import SERVICES, require_sender
from alertnet.content.pages import ack_page_html
from alertnet.content.reports import report_csv
from alertnet.domain.acks import AckChannel, TokenError
from alertnet.domain.errors import ValidationError
from alertnet.domain.polls import PollAnswer
from alertnet.services.acks import AckRefused
from alertnet.services.errors import NotPermitted
from alertnet.services.polls import NotAnAnswer

routes = web.RouteTableDef()


async def _link(request: web.Request) -> tuple[str, str, dict[str, object]] | web.Response:
    try:
        return await request.app[SERVICES].acks.link_page(request.match_info["token"])
    except TokenError as error:
        return web.Response(text=ack_page_html(error=str(error)), status=400, content_type="text/html")
    except AckRefused:
        return web.Response(text="No such alert.", status=404)


@routes.get("/ack/{token}")
async def ack_page(request: web.Request) -> web.Response:
    """Shows what will be acknowledged; the ack itself is the POST, so link-scanning mail filters that
    pre-fetch links never acknowledge for a person."""
    found = await _link(request)
    if isinstance(found, web.Response):
        return found
    alert_id, official_id, alert = found
    acked = await request.app[SERVICES].acks.has_acknowledged(alert_id, official_id)
    answer = await request.app[SERVICES].polls.current(alert_id, official_id) if alert.get("poll") else None
    html = ack_page_html(
        alert=alert,
        done=acked,
        token=request.match_info["token"],
        answer=answer,
        picked=request.query.get("answer", "")[:2],
    )
    return web.Response(text=html, content_type="text/html")


@routes.post("/ack/{token}")
async def ack_confirm(request: web.Request) -> web.Response:
    found = await _link(request)
    if isinstance(found, web.Response):
        return found
    alert_id, official_id, alert = found
    choice = str((await request.post()).get("answer", "")) if alert.get("poll") else ""
    answer: PollAnswer | None = None
    try:
        if choice:  # an answer to the alert's poll, picked on this page (it acknowledges too)
            answer = await request.app[SERVICES].polls.link_answer(alert_id, official_id, choice)
        else:
            await request.app[SERVICES].acks.acknowledge(alert_id, official_id, AckChannel.EMAIL)
    except AckRefused as error:
        return web.Response(text=str(error), status=409)
    except NotAnAnswer as error:
        page = ack_page_html(alert=alert, token=request.match_info["token"], error=str(error))
        return web.Response(text=page, status=400, content_type="text/html")
    html = ack_page_html(alert=alert, done=True, token=request.match_info["token"], answer=answer)
    return web.Response(text=html, content_type="text/html")


@routes.post("/v1/alerts/{alert_id}/acks")
async def record_ack(request: web.Request) -> web.Response:
    """An operator records an ack taken by phone, or a web ack on an official's behalf (director role)."""
    sender = await require_sender(request)
    alert_id = request.match_info["alert_id"]
    try:
        result = await request.app[SERVICES].acks.record_for_official(
            sender, alert_id, lambda: read_json(request)
        )
    except NotPermitted as error:
        return error_response(403, "forbidden", str(error), allowed=[])
    except ValidationError as error:
        return field_errors(error.errors)
    except AckRefused as error:
        field, _, reason = str(error).partition(": ")
        status = 404 if field == "alert_id" else 422
        return error_response(
            status,
            "not_found" if status == 404 else "invalid_request",
            str(error),
            errors=[{"field": field, "reason": reason}],
        )
    ack = result.ack
    return web.json_response(
        {
            "alert_id": ack.alert_id,
            "official_id": ack.official_id,
            "at": ack.at,
            "channel": ack.channel.value,
            "first": result.first,
        },
        status=201 if result.first else 200,
    )


@routes.get("/v1/alerts/{alert_id}/acks")
async def list_acks(request: web.Request) -> web.Response:
    await require_sender(request)
    alert_id = request.match_info["alert_id"]
    try:
        report = await request.app[SERVICES].acks.report(alert_id)
    except AckRefused as error:
        return error_response(404, "not_found", str(error))
    if request.query.get("format") == "csv":
        return web.Response(
            text=report_csv(report),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="acks-{alert_id}.csv"'},
        )
    return web.json_response(
        {
            "alert_id": alert_id,
            "acknowledged": [
                {
                    "official_id": o.id,
                    "name": o.name,
                    "role": o.role.value,
                    "district": o.district,
                    "at": a.at,
                    "channel": a.channel.value,
                }
                for o, a in report.acknowledged
            ],
            "pending": [
                {"official_id": o.id, "name": o.name, "role": o.role.value, "district": o.district}
                for o in report.pending
            ],
            "by_district": report.by_district,
            "by_role": report.by_role,
        }
    )
