"""/v1/digest: the weekly school safety update's items and issues, for its editors; /v1/registry/
email-problems for the Director's office."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alertnet.api.errors import REFUSALS, field_errors, read_json, refusal, whole_number
from alertnet.api.keys import SERVICES, require_sender
from alertnet.domain.digest import DigestItem, IssueRecord
from alertnet.domain.errors import FieldError
from alertnet.services.digest_runs import DueOutcome

routes = web.RouteTableDef()
MAX_ISSUE = 100_000


def _item(item: DigestItem) -> dict[str, Any]:
    return {**item.public_dict(), "links": {"self": f"/v1/digest/items/{item.id}"}}


def _record(record: IssueRecord) -> dict[str, Any]:
    return {
        "number": record.number,
        "state": record.state.value,
        "version": record.version,
        "approved": record.approved,
        "approved_by": record.approved_by if record.approved else "",
        "last_changed_by": record.changed_by,
    }


def _outcome(outcome: DueOutcome) -> dict[str, Any]:
    return {
        "number": outcome.issue,
        "state": outcome.state,
        "detail": outcome.detail,
        "recipients": outcome.recipients,
        "editions": outcome.editions,
    }


def _issue_number(request: web.Request) -> int:
    number = whole_number(request.match_info["number"], 1, MAX_ISSUE)
    if number is None:
        raise web.HTTPNotFound(
            text='{"error": "not_found", "message": "number: an issue number is a whole number from 1"}',
            content_type="application/json",
        )
    return number


@routes.post("/v1/digest/items")
async def add_item(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    payload = await read_json(request)
    try:
        item = await request.app[SERVICES].digest.add_item(sender, payload)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(_item(item), status=201)


@routes.get("/v1/digest/items")
async def list_items(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    raw = request.query.get("issue")
    issue = None if raw is None else whole_number(raw, 1, MAX_ISSUE)
    if raw is not None and issue is None:
        return field_errors([FieldError("issue", "must be an issue number (a whole number from 1)")])
    try:
        number, items = await request.app[SERVICES].digest.list_items(sender, issue)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response({"issue": number, "items": [_item(i) for i in items]})


@routes.patch("/v1/digest/items/{item_id}")
async def edit_item(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    payload = await read_json(request)
    try:
        item = await request.app[SERVICES].digest.edit_item(sender, request.match_info["item_id"], payload)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(_item(item))


@routes.delete("/v1/digest/items/{item_id}")
async def withdraw_item(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        item = await request.app[SERVICES].digest.withdraw_item(sender, request.match_info["item_id"])
    except REFUSALS as error:
        return refusal(error)
    return web.json_response({"withdrawn": item.id, "issue": item.issue})


@routes.get("/v1/digest/issues/next")
async def next_issue(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        return web.json_response(await request.app[SERVICES].digest.issue_view(sender))
    except REFUSALS as error:
        return refusal(error)


@routes.get("/v1/digest/issues/next/preview")
async def preview(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    official = request.query.get("official", "").strip()
    if not official:
        return field_errors([FieldError("official", "is required: the registry id of an official")], 400)
    try:
        return web.json_response(await request.app[SERVICES].digest.preview(sender, official))
    except REFUSALS as error:
        return refusal(error)


@routes.post("/v1/digest/issues/next/approve")
async def approve(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        record = await request.app[SERVICES].digest.approve(sender)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(_record(record))


@routes.post("/v1/digest/issues/next/test")
async def test_send(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    payload = await read_json(request)
    try:
        result = await request.app[SERVICES].digest.test_send(sender, payload)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(result, status=202)


@routes.get(r"/v1/digest/issues/{number:\d+}")
async def get_issue(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        return web.json_response(
            await request.app[SERVICES].digest.issue_view(sender, _issue_number(request))
        )
    except REFUSALS as error:
        return refusal(error)


@routes.post(r"/v1/digest/issues/{number:\d+}/approve")
async def approve_numbered(request: web.Request) -> web.Response:
    """Approve a given issue (a held one, before releasing it)."""
    sender = await require_sender(request)
    try:
        record = await request.app[SERVICES].digest.approve(sender, _issue_number(request))
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(_record(record))


@routes.post(r"/v1/digest/issues/{number:\d+}/release")
async def release(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        outcome = await request.app[SERVICES].digest.release(sender, _issue_number(request))
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(_outcome(outcome), status=202)


@routes.post(r"/v1/digest/issues/{number:\d+}/skip")
async def skip(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        record = await request.app[SERVICES].digest.skip(sender, _issue_number(request))
    except REFUSALS as error:
        return refusal(error)
    return web.json_response(_record(record))


@routes.get("/v1/registry/email-problems")
async def email_problems(request: web.Request) -> web.Response:
    sender = await require_sender(request)
    try:
        problems = await request.app[SERVICES].digest.email_problems(sender)
    except REFUSALS as error:
        return refusal(error)
    return web.json_response({"addresses": problems})
