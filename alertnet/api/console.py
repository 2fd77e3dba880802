"""The operator console's pages (`/console/`): sign in and out, compose an alert from a template with the
live recipient count, review exactly what each channel carries, send, and watch it. Handlers only route:
the rules are in `services.console` and `services.accounts`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp_session import get_session
from aiohttp_sse import sse_response

from alertnet.api.console_session import SIGN_IN, check_csrf, csrf_token, require_console, start_session
from alertnet.api.keys import SERVICES
from alertnet.content.console import after_action_csv, console_page, look
from alertnet.domain.alert_request import AlertValidationError
from alertnet.domain.alerts import Certainty, Severity, Urgency
from alertnet.domain.console import DRAFT_ID, form_fields, with_template
from alertnet.domain.contacts import Role
from alertnet.domain.senders import Sender, SenderRole
from alertnet.services.accounts import SignInRefused
from alertnet.services.acks import AckRefused
from alertnet.services.errors import Conflict, Forbidden, NotFound, NotPermitted

routes = web.RouteTableDef()
STATIC = Path(__file__).resolve().parent.parent / "static"
PRIVATE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
LIVE_SECONDS = 6 * 3600
# The last live-view fragment per (alert, since), with the figures it shows: see `_progress`.
_FRAGMENTS: dict[tuple[str, float], tuple[dict[str, Any], str]] = {}
_FRAGMENTS_KEPT = 64
DIGEST_LANE = ("/console/digest", "The weekly update: items, preview, test, approve", "lane-digest")
BULLETIN_LANE = ("/console/bulletins/new", "Publish a cyber bulletin", "lane-bulletins")
LANES = {
    SenderRole.CYBER_PUBLISHER: [BULLETIN_LANE],
    SenderRole.EDITOR: [DIGEST_LANE],
    SenderRole.DIRECTOR: [DIGEST_LANE, BULLETIN_LANE],
}


def html_page(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", headers=PRIVATE)


def refused_page(sender: Sender, csrf: str, error: Exception) -> web.Response:
    status = 404 if isinstance(error, NotFound | AckRefused) else 409 if isinstance(error, Conflict) else 403
    page = console_page("error", sender=sender, csrf=csrf, status=status, message=str(error) or "not found")
    return html_page(page, status)


async def posted_form(request: web.Request) -> tuple[dict[str, Any], list[str]]:
    """The posted form's single values and its checked channels, after the CSRF check."""
    try:
        posted = await request.post()
    except ValueError:
        raise web.HTTPBadRequest(text="The form could not be read.") from None
    await check_csrf(request, posted.get("csrf"))
    single = {key: value for key, value in posted.items() if isinstance(value, str)}
    return single, [v for v in posted.getall("channels", []) if isinstance(v, str)]


def _draft_id(request: web.Request) -> str:
    draft_id = request.match_info["draft_id"]
    if not DRAFT_ID.match(draft_id):
        raise web.HTTPNotFound(text="No such draft.")
    return draft_id


@routes.get("/console")
async def console_root(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/console/")


@routes.get("/console/")
async def home(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    console = request.app[SERVICES].console
    may_watch = sender.role in (SenderRole.DIRECTOR, SenderRole.VIEWER)
    page = console_page(
        "home",
        sender=sender,
        csrf=csrf,
        may_compose=sender.role is SenderRole.DIRECTOR,
        alerts=await console.recent(sender) if may_watch else None,
        held=await request.app[SERVICES].approvals.pending(sender) if may_watch else [],
        lanes=LANES.get(sender.role, []),
    )
    return html_page(page)


@routes.get(SIGN_IN)
async def sign_in_page(request: web.Request) -> web.Response:
    return html_page(console_page("sign_in", csrf=await csrf_token(request), name="", error=""))


@routes.post(SIGN_IN)
async def sign_in(request: web.Request) -> web.Response:
    form, _ = await posted_form(request)
    name, password = form.get("name", "").strip()[:64], form.get("password", "")[:256]
    try:
        sender = await request.app[SERVICES].accounts.sign_in(name, password, request.remote or "")
    except SignInRefused as error:
        page = console_page("sign_in", csrf=await csrf_token(request), name=name, error=str(error))
        response = html_page(page, 429 if error.retry_after else 401)
        if error.retry_after:
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    await start_session(request, sender)
    raise web.HTTPSeeOther("/console/")


@routes.post("/console/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    sender, _ = await require_console(request)
    await posted_form(request)
    await request.app[SERVICES].accounts.sign_out(sender, request.remote or "")
    (await get_session(request)).invalidate()
    raise web.HTTPSeeOther(SIGN_IN)


@routes.get("/console/alerts/new")
async def new_alert(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    try:
        await request.app[SERVICES].console.check_compose(sender)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)
    return html_page(console_page("new", sender=sender, csrf=csrf))


@routes.post("/console/drafts")
async def create_draft(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    form, _ = await posted_form(request)
    try:
        draft = await request.app[SERVICES].console.new_draft(sender, form.get("status", ""))
    except (NotPermitted, Conflict) as error:
        return refused_page(sender, csrf, error)
    raise web.HTTPSeeOther(f"/console/drafts/{draft.id}")


async def _compose(request: web.Request, draft: Any, sender: Sender, csrf: str, errors: Any = ()) -> str:
    console = request.app[SERVICES].console
    return console_page(
        "compose",
        sender=sender,
        csrf=csrf,
        draft=draft,
        errors=list(errors),
        coverage=await console.count(draft),
        templates=console.templates,
        severities=[s.value for s in Severity],
        urgencies=[u.value for u in Urgency],
        certainties=[c.value for c in Certainty],
        roles=[r.value for r in Role],
    )


@routes.get("/console/drafts/{draft_id}")
async def compose(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    try:
        draft = await request.app[SERVICES].console.draft(sender, _draft_id(request))
    except (NotPermitted, NotFound) as error:
        return refused_page(sender, csrf, error)
    if draft.alert_id:
        raise web.HTTPSeeOther(f"/console/alerts/{draft.alert_id}")
    return html_page(await _compose(request, draft, sender, csrf))


@routes.post("/console/drafts/{draft_id}")
async def save_draft(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    form, channels = await posted_form(request)
    console = request.app[SERVICES].console
    fields = form_fields(form, channels)
    action = form.get("action", "review")
    template = console.template(fields["template"]) if action == "template" else None
    if template is not None:
        fields = with_template(fields, template)
    try:
        draft, problems = await console.update(sender, _draft_id(request), fields)
    except (NotPermitted, NotFound, Conflict) as error:
        return refused_page(sender, csrf, error)
    if action == "review" and not problems:
        raise web.HTTPSeeOther(f"/console/drafts/{draft.id}/review")
    shown = problems if action == "review" else []
    return html_page(await _compose(request, draft, sender, csrf, shown), 422 if shown else 200)


@routes.get("/console/drafts/{draft_id}/count")
async def count(request: web.Request) -> web.Response:
    """The live count for the composer's current (unsaved) audience and channels: an HTML fragment."""
    sender, csrf = await require_console(request)
    console = request.app[SERVICES].console
    try:
        draft = await console.draft(sender, _draft_id(request))
    except (NotPermitted, NotFound) as error:
        return refused_page(sender, csrf, error)
    fields = {**draft.fields, **form_fields(request.query, request.query.getall("channels", []))}
    coverage = await console.count(replace(draft, fields=fields))
    return html_page(console_page("count", coverage=coverage))


@routes.get("/console/drafts/{draft_id}/review")
async def review(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    console = request.app[SERVICES].console
    try:
        preview = await console.preview(sender, _draft_id(request))
    except (NotPermitted, NotFound) as error:
        return refused_page(sender, csrf, error)
    except AlertValidationError:
        raise web.HTTPSeeOther(f"/console/drafts/{_draft_id(request)}") from None
    return html_page(console_page("review", sender=sender, csrf=csrf, error="", **preview))


@routes.post("/console/drafts/{draft_id}/send")
async def send(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    form, _ = await posted_form(request)
    console = request.app[SERVICES].console
    draft_id = _draft_id(request)
    try:
        alert_id = await console.send(sender, draft_id, form.get("confirm", ""))
    except (NotPermitted, NotFound, Forbidden) as error:
        return refused_page(sender, csrf, error)
    except (Conflict, AlertValidationError) as error:
        try:
            preview = await console.preview(sender, draft_id)
        except AlertValidationError:
            raise web.HTTPSeeOther(f"/console/drafts/{draft_id}") from None
        page = console_page("review", sender=sender, csrf=csrf, error=str(error), **preview)
        return html_page(page, 409)
    raise web.HTTPSeeOther(f"/console/alerts/{alert_id}")


@routes.get("/console/alerts/{alert_id}")
async def watch(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    try:
        view = await request.app[SERVICES].console.watch(sender, request.match_info["alert_id"])
    except (NotPermitted, NotFound) as error:
        return refused_page(sender, csrf, error)
    return html_page(console_page("held" if "held" in view else "alert", sender=sender, csrf=csrf, view=view))


async def _decide(request: web.Request, decision: str) -> web.Response:
    """A second director approves or rejects a held alert (the author cannot: the service refuses)."""
    sender, csrf = await require_console(request)
    form, _ = await posted_form(request)
    alert_id = request.match_info["alert_id"]
    approvals = request.app[SERVICES].approvals
    try:
        if decision == "approve":
            await approvals.approve(sender, alert_id)
        else:
            await approvals.reject(sender, alert_id, {"reason": form.get("reason", "")})
    except (NotPermitted, NotFound, Conflict) as error:
        return refused_page(sender, csrf, error)
    raise web.HTTPSeeOther(f"/console/alerts/{alert_id}")


@routes.post("/console/alerts/{alert_id}/approve")
async def approve(request: web.Request) -> web.Response:
    return await _decide(request, "approve")


@routes.post("/console/alerts/{alert_id}/reject")
async def reject(request: web.Request) -> web.Response:
    return await _decide(request, "reject")


@routes.get("/console/alerts/{alert_id}/events")
async def watch_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the delivery and acknowledgement figures, sent again whenever they change
    (checked every second) until the browser leaves or after `LIVE_SECONDS`."""
    sender, csrf = await require_console(request)
    alert_id = request.match_info["alert_id"]
    console = request.app[SERVICES].console
    try:
        since = await console.live_since(sender, alert_id)
    except (NotPermitted, NotFound) as error:
        return refused_page(sender, csrf, error)
    last = ""
    async with sse_response(request, headers=PRIVATE) as stream:
        deadline = time.monotonic() + LIVE_SECONDS
        with contextlib.suppress(ConnectionResetError):  # the browser left between two sends
            while stream.is_connected() and time.monotonic() < deadline:
                html = _progress((alert_id, since), await console.live(alert_id, since))
                if html != last:
                    await stream.send(html, event="progress")
                    last = html
                await asyncio.sleep(1.0)
    return stream


def _progress(key: tuple[str, float], view: dict[str, Any]) -> str:
    """The live view's fragment for these figures, rendered once however many views show them (every
    view of an alert in this process is handed the same figures object until the next read)."""
    kept = _FRAGMENTS.get(key)
    if kept is None or kept[0] is not view:
        if len(_FRAGMENTS) >= _FRAGMENTS_KEPT and key not in _FRAGMENTS:
            _FRAGMENTS.pop(next(iter(_FRAGMENTS)))
        kept = _FRAGMENTS[key] = (view, console_page("progress", view=view))
    return kept[1]


async def _correct(request: web.Request, kind: str) -> web.Response:
    """One click: the prepared Cancel ("sent in error") or all-clear, to everyone the alert reached."""
    sender, csrf = await require_console(request)
    await posted_form(request)
    alert_id = request.match_info["alert_id"]
    try:
        new_id = await request.app[SERVICES].console.correct(sender, alert_id, kind)
    except (NotPermitted, NotFound, Forbidden, Conflict, AlertValidationError) as error:
        return refused_page(sender, csrf, error)
    raise web.HTTPSeeOther(f"/console/alerts/{new_id}")


@routes.post("/console/alerts/{alert_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    return await _correct(request, "cancel")


@routes.post("/console/alerts/{alert_id}/all-clear")
async def all_clear(request: web.Request) -> web.Response:
    return await _correct(request, "all-clear")


@routes.post("/console/alerts/{alert_id}/update")
async def prepare_update(request: web.Request) -> web.Response:
    """A draft Update pre-filled from the alert, with its status; reviewed and sent like any draft."""
    sender, csrf = await require_console(request)
    await posted_form(request)
    try:
        draft = await request.app[SERVICES].console.prepare_update(sender, request.match_info["alert_id"])
    except (NotPermitted, NotFound, Conflict) as error:
        return refused_page(sender, csrf, error)
    raise web.HTTPSeeOther(f"/console/drafts/{draft.id}")


@routes.post("/console/alerts/{alert_id}/remind")
async def remind(request: web.Request) -> web.Response:
    """Send the alert again to those who have not acknowledged it (audited, linked to the alert)."""
    sender, csrf = await require_console(request)
    await posted_form(request)
    alert_id = request.match_info["alert_id"]
    try:
        await request.app[SERVICES].reminders.remind_silent(sender, alert_id)
    except (NotFound, Forbidden, Conflict) as error:
        return refused_page(sender, csrf, error)
    raise web.HTTPSeeOther(f"/console/alerts/{alert_id}")


@routes.get("/console/alerts/{alert_id}/report")
async def report(request: web.Request) -> web.Response:
    """The after-action report: a printable page, or CSV with ?format=csv."""
    sender, csrf = await require_console(request)
    alert_id = request.match_info["alert_id"]
    try:
        found = await request.app[SERVICES].console.report(sender, alert_id)
    except (NotPermitted, NotFound) as error:
        return refused_page(sender, csrf, error)
    if request.query.get("format") == "csv":
        disposition = f'attachment; filename="after-action-{alert_id[:26]}.csv"'
        headers = {**PRIVATE, "Content-Disposition": disposition}
        return web.Response(text=after_action_csv(found), content_type="text/csv", headers=headers)
    return html_page(console_page("report", sender=sender, csrf=csrf, report=found, look=look))


@routes.get("/console/alerts/{alert_id}/acks.csv")
async def acks_csv(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    alert_id = request.match_info["alert_id"]
    try:
        text = await request.app[SERVICES].console.acks_csv(sender, alert_id)
    except (NotPermitted, NotFound, AckRefused) as error:
        return refused_page(sender, csrf, error)
    disposition = f'attachment; filename="acks-{alert_id[:26]}.csv"'
    return web.Response(
        text=text, content_type="text/csv", headers={**PRIVATE, "Content-Disposition": disposition}
    )


routes.static("/console/static", STATIC)
