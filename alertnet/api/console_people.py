"""The console's people page: directors see every sender, add console users (the API token shown once)
and clear an account's failed sign-ins."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alertnet.api.console import html_page, posted_form, refused_page
from alertnet.api.console_session import require_console
from alertnet.api.keys import SERVICES
from alertnet.content.console import console_page
from alertnet.domain.senders import Sender, SenderRole
from alertnet.services.errors import BadRequest, NotFound, NotPermitted

routes = web.RouteTableDef()


async def _people(request: web.Request, sender: Sender, csrf: str, **shown: Any) -> web.Response:
    people = await request.app[SERVICES].accounts.people(sender)
    roles = [r.value for r in SenderRole]
    page = console_page("people", sender=sender, csrf=csrf, people=people, roles=roles, **shown)
    return html_page(page, 422 if shown.get("error") else 200)


@routes.get("/console/people")
async def people(request: web.Request) -> web.Response:
    """Directors see every sender and add console users."""
    sender, csrf = await require_console(request)
    try:
        return await _people(request, sender, csrf)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)


@routes.post("/console/people")
async def add_person(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    form, _ = await posted_form(request)
    accounts = request.app[SERVICES].accounts
    name = form.get("name", "").strip()
    try:
        token = await accounts.create(
            sender,
            name,
            form.get("role", ""),
            form.get("password", ""),
            form.get("email", "").strip(),
            official=form.get("official", "").strip(),
        )
    except NotPermitted as error:
        return refused_page(sender, csrf, error)
    except BadRequest as error:
        return await _people(request, sender, csrf, error=str(error))
    return await _people(request, sender, csrf, created=name, token=token)


@routes.post("/console/people/{name}/unlock")
async def unlock_person(request: web.Request) -> web.Response:
    sender, csrf = await require_console(request)
    await posted_form(request)
    try:
        await request.app[SERVICES].accounts.unlock_as(sender, request.match_info["name"])
    except (NotPermitted, NotFound) as error:
        return refused_page(sender, csrf, error)
    raise web.HTTPSeeOther("/console/people")
