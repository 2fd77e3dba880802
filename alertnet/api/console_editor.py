"""The console's editor of the weekly update (`/console/digest`, editors and directors): the issue being
assembled, an item added or withdrawn, a preview as a chosen official, a test send and the approval. The
rules (who may, the second editor's approval, the test-send limits) are `services.digest`'s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from alertnet.api.console import html_page, posted_form, refused_page
from alertnet.api.console_session import require_console
from alertnet.api.digest import MAX_ISSUE
from alertnet.api.errors import whole_number
from alertnet.api.keys import SERVICES
from alertnet.content.console import console_page
from alertnet.domain.console import audience_of
from alertnet.domain.contacts import Role
from alertnet.domain.digest import CATEGORIES, TEST_MAX_ADDRESSES
from alertnet.domain.errors import ValidationError
from alertnet.domain.senders import Sender
from alertnet.domain.tlp import COLOURS
from alertnet.services.errors import Conflict, NotFound, NotPermitted

routes = web.RouteTableDef()
HOME = "/console/digest"
AUDIENCE_KINDS = ("statewide", "regions", "counties", "districts", "schools", "officials", "roles")
FORM_FIELDS = ("title", "body", "link", "category", "audience_kind", "audience_values", "roles")
BLANK = {"category": "news", "audience_kind": "statewide"}


def lines(text: str) -> list[str]:
    """A multi-line field's values: one per line, blanks dropped, order kept, no repeats."""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def item_request(form: Mapping[str, str]) -> dict[str, Any]:
    """The `POST /v1/digest/items` body the form stands for (an empty link left out)."""
    body: dict[str, Any] = {key: form.get(key, "").strip() for key in ("title", "body", "category")}
    if form.get("link", "").strip():
        body["link"] = form["link"].strip()
    body["audience"] = audience_of(form)
    return body


async def _editor(
    request: web.Request, sender: Sender, csrf: str, *, status: int = 200, **shown: Any
) -> web.Response:
    """The editor's page: the next issue, the issue new items go into when that is another one, and
    whatever the last action showed (an error, a preview, a test send, the item form as typed)."""
    digest = request.app[SERVICES].digest
    await digest.check_editor(sender)
    issue = await digest.issue_view(sender)
    open_number, open_items = await digest.list_items(sender)
    shown.setdefault("form", BLANK)
    page = console_page(
        "digest",
        sender=sender,
        csrf=csrf,
        issue=issue,
        open_number=open_number,
        open_items=[i.public_dict() for i in open_items] if open_number != issue["number"] else [],
        categories=CATEGORIES,
        audience_kinds=AUDIENCE_KINDS,
        roles=[r.value for r in Role],
        test_max=TEST_MAX_ADDRESSES,
        colours={t.value: c for t, c in COLOURS.items()},
        **{"error": "", "errors": {}, "preview": None, "official": "", "tested": None, "to": "", **shown},
    )
    return html_page(page, status)


def field_reasons(error: ValidationError) -> dict[str, list[str]]:
    """Each refused field's reasons, under the form field it belongs to (`audience.districts` to audience,
    `to[1]` to to)."""
    found: dict[str, list[str]] = {}
    for e in error.errors:
        found.setdefault(e.field.split(".")[0].split("[")[0], []).append(f"{e.field}: {e.reason}")
    return found


@routes.get(HOME)
async def editor(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    try:
        return await _editor(request, sender, csrf)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)


@routes.post(f"{HOME}/items")
async def add_item(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    form, _ = await posted_form(request)
    kept = {key: form.get(key, "") for key in FORM_FIELDS}
    try:
        await request.app[SERVICES].digest.add_item(sender, item_request(form))
    except NotPermitted as error:
        return refused_page(sender, csrf, error)
    except ValidationError as error:
        return await _editor(request, sender, csrf, status=422, form=kept, errors=field_reasons(error))
    raise web.HTTPSeeOther(HOME)


@routes.post(HOME + "/items/{item_id}/withdraw")
async def withdraw_item(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    await posted_form(request)
    try:
        await request.app[SERVICES].digest.withdraw_item(sender, request.match_info["item_id"])
    except (NotPermitted, NotFound) as error:
        return refused_page(sender, csrf, error)
    except Conflict as error:
        return await _editor(request, sender, csrf, status=409, error=str(error))
    raise web.HTTPSeeOther(HOME)


@routes.get(f"{HOME}/preview")
async def preview(request: web.Request) -> web.Response:
    """The email the chosen official would get from the next issue (sanitized HTML, in a sandbox)."""
    sender, csrf = await require_console(request)
    official = request.query.get("official", "").strip()[:200]
    digest = request.app[SERVICES].digest
    try:
        await digest.check_editor(sender)
        if not official:
            return await _editor(request, sender, csrf, status=422, error="official: give a registry id")
        shown = await digest.preview(sender, official)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)
    except NotFound as error:
        return await _editor(request, sender, csrf, status=404, error=str(error), official=official)
    return await _editor(request, sender, csrf, preview=shown, official=official)


@routes.post(f"{HOME}/test")
async def test_send(request: web.Request) -> web.Response:
    """The next issue, marked [TEST], to a few addresses (the service's limits)."""
    sender, csrf = await require_console(request)
    form, _ = await posted_form(request)
    to = form.get("to", "")
    try:
        tested = await request.app[SERVICES].digest.test_send(sender, {"to": lines(to)})
    except NotPermitted as error:
        return refused_page(sender, csrf, error)
    except ValidationError as error:
        return await _editor(request, sender, csrf, status=422, errors=field_reasons(error), to=to)
    except Conflict as error:
        return await _editor(request, sender, csrf, status=409, error=str(error), to=to)
    return await _editor(request, sender, csrf, tested=tested, to=to)


@routes.post(f"{HOME}/approve")
async def approve(request: web.Request) -> web.Response:
    """Approve the issue as shown; the service refuses the editor who made its last change."""
    sender, csrf = await require_console(request)
    form, _ = await posted_form(request)
    number = whole_number(form.get("issue", ""), 1, MAX_ISSUE)  # the issue shown; else the next one
    try:
        await request.app[SERVICES].digest.approve(sender, number)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)
    except (Conflict, NotFound) as error:
        return await _editor(request, sender, csrf, status=409, error=str(error))
    raise web.HTTPSeeOther(HOME)
