"""The console's bulletin form (`/console/bulletins/new`, cyber publishers and directors): the fields of a
cyber bulletin with its TLP label, a check of the recipients that label implies, then Publish. The rules
(who may, what each label needs, who receives it, digest or at once) are `services.bulletins`'."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from alertnet.api.console import html_page, posted_form, refused_page
from alertnet.api.console_editor import field_reasons, lines
from alertnet.api.console_session import require_console
from alertnet.api.keys import SERVICES
from alertnet.content.console import console_page
from alertnet.domain.bulletins import Severity
from alertnet.domain.errors import ValidationError
from alertnet.domain.senders import Sender
from alertnet.domain.tlp import BACKGROUND, COLOURS, LABELS, Tlp
from alertnet.services.errors import NotPermitted

routes = web.RouteTableDef()
FORM = "/console/bulletins/new"
TEXT_FIELDS = ("title", "summary", "body", "tlp", "severity")
LIST_FIELDS = ("organizations", "officials", "actions")
RECENT = 15
CHANGED = "The form changed after its recipients were checked: look at them again, then publish."


def bulletin_request(form: Mapping[str, str]) -> dict[str, Any]:
    """The `POST /v1/bulletins` body the form stands for (an unchosen label or severity left out, so the
    service names it)."""
    body: dict[str, Any] = {key: form.get(key, "").strip() for key in TEXT_FIELDS}
    body = {key: value for key, value in body.items() if value or key not in ("tlp", "severity")}
    body.update({key: lines(form.get(key, "")) for key in LIST_FIELDS})
    return body


def fingerprint(body: Mapping[str, Any]) -> str:
    """What was checked, so Publish sends exactly that (a form changed since shows the new recipients)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def _form(
    request: web.Request, sender: Sender, csrf: str, *, status: int = 200, **shown: Any
) -> web.Response:
    bulletins = request.app[SERVICES].bulletins
    await bulletins.check_publisher(sender)
    recent = [
        {**b, "when": datetime.fromtimestamp(float(b["created"]), UTC).strftime("%Y-%m-%d %H:%M UTC")}
        for b in (await bulletins.list(sender))[:RECENT]
    ]
    published = request.query.get("published", "")
    page = console_page(
        "bulletin",
        sender=sender,
        csrf=csrf,
        labels=LABELS,
        colours={t.value: c for t, c in COLOURS.items()},
        background=BACKGROUND,
        rules={t.value: t.sharing_rule for t in Tlp},
        severities=[s.value for s in Severity],
        recent=recent,
        published=next((b for b in recent if published and b["id"] == published), None),
        **{"form": {}, "errors": {}, "error": "", "check": None, "checked": "", **shown},
    )
    return html_page(page, status)


async def _checked(
    request: web.Request, sender: Sender, csrf: str, form: Mapping[str, str], *, error: str = ""
) -> web.Response:
    """The form as typed with the recipients its label implies, and Publish; or the fields to fix."""
    body = bulletin_request(form)
    kept = {key: form.get(key, "") for key in (*TEXT_FIELDS, *LIST_FIELDS)}
    try:
        check = await request.app[SERVICES].bulletins.recipients(sender, body)
    except ValidationError as failed:
        return await _form(request, sender, csrf, status=422, form=kept, errors=field_reasons(failed))
    shown = {"form": kept, "check": check, "checked": fingerprint(body), "error": error}
    return await _form(request, sender, csrf, status=409 if error else 200, **shown)


@routes.get(FORM)
async def new_bulletin(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    try:
        return await _form(request, sender, csrf)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)


@routes.post("/console/bulletins/check")
async def check(request: web.Request) -> web.Response:
    """The recipients the label implies, by channel; digest or at once; nothing stored or sent."""
    sender, csrf = await require_console(request)
    form, _ = await posted_form(request)
    try:
        return await _checked(request, sender, csrf, form)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)


@routes.post("/console/bulletins")
async def publish(request: web.Request) -> web.Response:
    """Publish what was checked; a form changed since its check shows the new recipients instead."""
    sender, csrf = await require_console(request)
    form, _ = await posted_form(request)
    body = bulletin_request(form)
    bulletins = request.app[SERVICES].bulletins
    try:
        if form.get("checked", "") != fingerprint(body):
            return await _checked(request, sender, csrf, form, error=CHANGED)
        view = await bulletins.publish(sender, body)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)
    except ValidationError as failed:
        kept = {key: form.get(key, "") for key in (*TEXT_FIELDS, *LIST_FIELDS)}
        return await _form(request, sender, csrf, status=422, form=kept, errors=field_reasons(failed))
    raise web.HTTPSeeOther(f"{FORM}?published={view['id']}")
