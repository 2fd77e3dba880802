"""/v1/alerts: send an alert, follow it, verify it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alertnet.api import cap
from alertnet.api.errors import error_response, field_errors, read_json, whole_number
from alertnet.api.keys import SERVICES, require_sender
from alertnet.domain.alert_request import AlertValidationError
from alertnet.domain.approvals import HeldAlert
from alertnet.domain.deliveries import AlertProgress
from alertnet.domain.errors import FieldError
from alertnet.services.alerts import AcceptedAlert
from alertnet.services.errors import Conflict, Forbidden, NotFound
from alertnet.services.once import HEADER as IDEMPOTENCY_KEY
from alertnet.services.once import SentBefore

routes = web.RouteTableDef()
MAX_LIST = 200


@routes.post("/v1/alerts")
async def post_alert(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    if cap.is_cap(request):  # a CAP 1.2 document (alertnet.api.cap)
        return await cap.post_cap_alert(request, sender, accepted_json)
    payload = await read_json(request)
    services = request.app[SERVICES]
    key = request.headers.get(IDEMPOTENCY_KEY)
    accepted: AcceptedAlert | HeldAlert | SentBefore
    try:
        if key is None:
            accepted = await services.alerts.submit_alert(sender, payload)
        else:  # a retry of the same request sends nothing again (alertnet.services.once)
            accepted = await services.alerts_once.submit(sender, payload, key)
    except Forbidden as error:
        return error_response(403, "forbidden", str(error), allowed=error.allowed)
    except AlertValidationError as error:
        return field_errors(error.errors)
    except Conflict as error:
        return error_response(409, "conflict", str(error))
    if isinstance(accepted, SentBefore):
        return sent_before_json(services.alerts, accepted)
    if isinstance(accepted, HeldAlert):
        return web.json_response(accepted.view(), status=202)
    return accepted_json(services.alerts, accepted)


def sent_before_json(service: Any, before: SentBefore) -> web.Response:
    """200 for a retry of a request sent before: the alert it was sent as; nothing sent again."""
    links = {"self": f"/v1/alerts/{before.alert_id}", "page": service.links.alert_page(before.alert_id)}
    return web.json_response({"id": before.alert_id, "duplicate": True, "links": links})


def accepted_json(service: Any, accepted: AcceptedAlert) -> web.Response:
    """202 for an alert that went out: its id, recipients, signature and links."""
    alert = accepted.alert
    return web.json_response(
        {
            "id": alert.id,
            "status": alert.status.value,
            "msgType": alert.msg_type.value,
            "priority": alert.priority.value,
            "recipients": accepted.recipients,
            "signature": accepted.signature,
            "key_id": accepted.key_id,
            "verification_code": accepted.code,
            "links": {
                "self": f"/v1/alerts/{alert.id}",
                "verify": f"/v1/alerts/{alert.id}/verify",
                "page": service.links.alert_page(alert.id),
            },
        },
        status=202,
    )


def progress_json(progress: AlertProgress) -> dict[str, Any]:
    return {
        channel: {"total": total, "states": progress.counts.get(channel, {})}
        for channel, total in progress.totals.items()
    }


@routes.get("/v1/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    """The newest alerts first: what went out, from whom, and whether every delivery has settled."""
    await require_sender(request)
    limit = whole_number(request.query.get("limit", "20"), 1, MAX_LIST)
    if limit is None:
        return field_errors([FieldError("limit", f"must be a whole number from 1 to {MAX_LIST}")])
    found = await request.app[SERVICES].alerts.recent_alerts(limit)
    return web.json_response(
        {
            "alerts": [
                {
                    "id": record["alert"]["identifier"],
                    "sent": record["alert"]["sent"],
                    "sender": record["alert"]["sender"],
                    "status": record["alert"]["status"],
                    "msgType": record["alert"]["msgType"],
                    "severity": record["alert"]["severity"],
                    "event": record["alert"]["event"],
                    "headline": record["alert"]["headline"],
                    "recipients": record["recipients"],
                    "settled": progress.settled,
                    "verification_code": record["code"],
                }
                for record, progress in found
            ]
        }
    )


@routes.get("/v1/alerts/{alert_id}")
async def get_alert(request: web.Request) -> web.Response:
    await require_sender(request)
    alert_id = request.match_info["alert_id"]
    try:
        record, progress = await request.app[SERVICES].alerts.alert_status(alert_id)
    except NotFound:
        return error_response(404, "not_found", f"alert_id: no alert with id '{alert_id}'")
    schools = await request.app[SERVICES].schools.counts(alert_id)
    return web.json_response(
        {
            "id": alert_id,
            "settled": progress.settled,
            "alert": record["alert"],
            "recipients": record["recipients"],
            "channels": progress_json(progress),
            "schools": schools,
            "signature": record["signature"],
            "key_id": record["key_id"],
            "verification_code": record["code"],
        }
    )


@routes.get("/v1/alerts/{alert_id}/verify")
async def verify_alert(request: web.Request) -> web.Response:
    alert_id = request.match_info["alert_id"]
    try:
        return web.json_response(await request.app[SERVICES].alerts.verify_alert(alert_id))
    except NotFound:
        return error_response(404, "not_found", f"alert_id: no alert with id '{alert_id}'")


@routes.get("/v1/keys")
async def public_keys(request: web.Request) -> web.Response:
    return web.json_response({"keys": [request.app[SERVICES].alerts.public_key()]})


@routes.post("/v1/alerts/{alert_id}/all-clear")
async def all_clear(request: web.Request) -> web.Response:
    """One call after any alert: tell the same officials it is over, and stop escalating."""
    sender = await require_sender(request)
    alert_id = request.match_info["alert_id"]
    service = request.app[SERVICES].alerts
    try:
        accepted = await service.all_clear(sender, alert_id)
    except NotFound:
        return error_response(404, "not_found", f"alert_id: no alert with id '{alert_id}'")
    except Forbidden as error:
        return error_response(403, "forbidden", str(error), allowed=error.allowed)
    except AlertValidationError as error:
        return field_errors(error.errors)
    except Conflict as error:
        return error_response(409, "conflict", str(error))
    return web.json_response(
        {
            "id": accepted.alert.id,
            "references": [alert_id],
            "recipients": accepted.recipients,
            "signature": accepted.signature,
            "verification_code": accepted.code,
        },
        status=202,
    )
