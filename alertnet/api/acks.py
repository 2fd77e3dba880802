"""Acknowledgements over HTTP: the email link's page and the operator's API, with the after-action report.

(Replies by SMS and keypresses arrive as provider webhooks: `alertnet.api.webhooks`.)
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from aiohttp import web

from alertnet.api.errors import error_response, read_json
from alertnet.api.keys import SERVICES, require_sender
from alertnet.content.pages import ack_page_html
from alertnet.domain.acks import AckChannel, AckReport, TokenError
from alertnet.domain.senders import SenderRole
from alertnet.services.acks import AckRefused

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
    html = ack_page_html(alert=alert, done=acked, token=request.match_info["token"])
    return web.Response(text=html, content_type="text/html")


@routes.post("/ack/{token}")
async def ack_confirm(request: web.Request) -> web.Response:
    found = await _link(request)
    if isinstance(found, web.Response):
        return found
    alert_id, official_id, alert = found
    try:
        await request.app[SERVICES].acks.acknowledge(alert_id, official_id, AckChannel.EMAIL)
    except AckRefused as error:
        return web.Response(text=str(error), status=409)
    html = ack_page_html(alert=alert, done=True, token=request.match_info["token"])
    return web.Response(text=html, content_type="text/html")


@routes.post("/v1/alerts/{alert_id}/acks")
async def record_ack(request: web.Request) -> web.Response:
    """An operator records an ack taken by phone, or a web ack on an official's behalf (director role)."""
    sender = await require_sender(request)
    if sender.role is not SenderRole.DIRECTOR:
        return error_response(
            403, "forbidden", f"sender role '{sender.role.value}' may not record acknowledgements", allowed=[]
        )
    body = await read_json(request)
    errors = []
    if not isinstance(body, dict):
        return error_response(
            422,
            "invalid_request",
            "body: must be an object",
            errors=[{"field": "body", "reason": "must be an object"}],
        )
    official_id = body.get("official_id")
    if not isinstance(official_id, str) or not official_id:
        errors.append({"field": "official_id", "reason": "required string"})
    channel = body.get("channel", "operator")
    if channel not in ("operator", "web"):
        errors.append({"field": "channel", "reason": "must be 'operator' or 'web'"})
    if errors:
        return error_response(
            422, "invalid_request", "; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors
        )
    try:
        result = await request.app[SERVICES].acks.acknowledge(
            request.match_info["alert_id"], str(official_id), AckChannel(channel), recorded_by=sender.name
        )
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


CSV_COLUMNS = ("official_id", "name", "role", "school", "district", "county", "region")


def report_csv(report: AckReport) -> str:
    """The after-action export: one row per official the alert went to, acknowledged first; `at` is
    ISO 8601 UTC so a spreadsheet reads it as a time."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "acknowledged", "at", "channel"])
    rows = [(o, a) for o, a in report.acknowledged] + [(o, None) for o in report.pending]
    for official, ack in rows:
        who = [official.id, official.name, official.role.value, official.school, official.district]
        who += [official.county, official.region]
        if ack is None:
            writer.writerow([*who, "no", "", ""])
        else:
            at = datetime.fromtimestamp(ack.at, UTC).isoformat(timespec="milliseconds")
            writer.writerow([*who, "yes", at.replace("+00:00", "Z"), ack.channel.value])
    return out.getvalue()


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
