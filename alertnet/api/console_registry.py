"""The console's registry pages: directors and viewers search officials (numbers masked) and see the email
addresses that bounce or fail; directors upload a registry CSV, read its row-by-row report, and apply it.
Handlers only route: the rules are in `services.registry_uploads`."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_request import FileField

from alertnet.api.console import html_page, posted_form, refused_page
from alertnet.api.console_session import check_csrf, require_console
from alertnet.api.keys import SERVICES
from alertnet.content.console import console_page
from alertnet.domain.registry_report import UPLOAD_ID, RegistryUpload
from alertnet.domain.senders import Sender
from alertnet.services.errors import BadRequest, Conflict, NotFound, NotPermitted

routes = web.RouteTableDef()
TOO_BIG = "The file is over the 1 MiB upload limit: split it, or import it with `alertnet contacts import`."
NO_FILE = "No file was chosen: choose the registry CSV file to check."
UNREADABLE = "The upload could not be read: choose the file and try again."


async def _registry(
    request: web.Request, sender: Sender, csrf: str, *, status: int = 200, upload_error: str = ""
) -> web.Response:
    view = await request.app[SERVICES].registry_uploads.overview(sender, request.query.get("q", ""))
    page = console_page("registry", sender=sender, csrf=csrf, view=view, upload_error=upload_error)
    return html_page(page, status)


def _report(sender: Sender, csrf: str, upload: RegistryUpload, status: int = 200) -> web.Response:
    page = console_page("registry_upload", sender=sender, csrf=csrf, upload=upload, report=upload.report)
    return html_page(page, status)


def _upload_id(request: web.Request) -> str:
    upload_id = request.match_info["upload_id"]
    if not UPLOAD_ID.match(upload_id):
        raise web.HTTPNotFound(text="No such upload.")
    return upload_id


@routes.get("/console/registry")
async def registry(request: web.Request) -> web.Response:
    """Directors and viewers: the registry's totals, a search over officials, failing email addresses."""
    sender, csrf = await require_console(request)
    try:
        return await _registry(request, sender, csrf)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)


@routes.post("/console/registry/upload")
async def upload(request: web.Request) -> web.Response:
    """Directors: validate a registry CSV (multipart `file`, `full`, `csrf`) and show its report; nothing
    is imported until the report's Apply."""
    sender, csrf = await require_console(request)
    uploads = request.app[SERVICES].registry_uploads
    try:
        await uploads.check_upload(sender)
    except NotPermitted as error:
        return refused_page(sender, csrf, error)
    try:
        posted = await request.post()
    except web.HTTPRequestEntityTooLarge:
        return await _registry(request, sender, csrf, status=413, upload_error=TOO_BIG)
    except ValueError:
        return await _registry(request, sender, csrf, status=400, upload_error=UNREADABLE)
    await check_csrf(request, posted.get("csrf"))
    chosen = posted.get("file")
    if not isinstance(chosen, FileField) or not chosen.filename:
        return await _registry(request, sender, csrf, status=400, upload_error=NO_FILE)
    data = await asyncio.to_thread(chosen.file.read)
    try:
        found = await uploads.validate(sender, chosen.filename, data, full=posted.get("full") == "1")
    except BadRequest as error:
        status = 415 if error.error == "not_csv" else 400
        return await _registry(request, sender, csrf, status=status, upload_error=str(error))
    return _report(sender, csrf, found, 200 if found.report.applicable else 422)


@routes.get("/console/registry/uploads/{upload_id}")
async def upload_report(request: web.Request) -> web.Response:
    """The uploading director's report of one upload (and, once applied, what the import did)."""
    sender, csrf = await require_console(request)
    try:
        found = await request.app[SERVICES].registry_uploads.upload(sender, _upload_id(request))
    except (NotPermitted, NotFound) as error:
        return refused_page(sender, csrf, error)
    return _report(sender, csrf, found)


@routes.post("/console/registry/uploads/{upload_id}/apply")
async def apply_upload(request: web.Request) -> web.Response:
    """Import a validated upload, once (audited as the director); a file with refused rows never."""
    sender, csrf = await require_console(request)
    await posted_form(request)
    upload_id = _upload_id(request)
    try:
        await request.app[SERVICES].registry_uploads.apply(sender, upload_id)
    except (NotPermitted, NotFound, Conflict) as error:
        return refused_page(sender, csrf, error)
    raise web.HTTPSeeOther(f"/console/registry/uploads/{upload_id}")
