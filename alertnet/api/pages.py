"""Public pages: the alert's own page (the short link in every SMS), the weekly update's archive, and an
official's unsubscribe link."""

from __future__ import annotations

from aiohttp import web

from alertnet.api.keys import SERVICES
from alertnet.content.digest import unsubscribe_page_html
from alertnet.content.pages import alert_page_html
from alertnet.services.errors import NotFound

routes = web.RouteTableDef()


@routes.get("/a/{alert_id}")
async def alert_page(request: web.Request) -> web.Response:
    alert_id = request.match_info["alert_id"]
    service = request.app[SERVICES].alerts
    try:
        verification = await service.verify_alert(alert_id)
        record, _progress = await service.alert_status(alert_id)
    except NotFound:
        return web.Response(status=404, text="No such alert.", content_type="text/plain")
    html = alert_page_html(record["alert"], verification, public_key=service.public_key()["public_key"])
    return web.Response(text=html, content_type="text/html")


@routes.get("/digest/")
async def digest_archive(request: web.Request) -> web.Response:
    """Every sent issue of the weekly update, newest first (public: statewide items only)."""
    return web.Response(text=await request.app[SERVICES].digest.archive_index(), content_type="text/html")


@routes.get(r"/digest/{number:\d{1,6}}")
async def digest_issue(request: web.Request) -> web.Response:
    try:
        html = await request.app[SERVICES].digest.archive_page(int(request.match_info["number"]))
    except NotFound:
        return web.Response(status=404, text="No such issue.", content_type="text/plain")
    return web.Response(text=html, content_type="text/html")


@routes.get("/u/{token}")
async def unsubscribe_page(request: web.Request) -> web.Response:
    """The unsubscribe link opened in a browser: a page with one button (opening it changes nothing)."""
    try:
        service = request.app[SERVICES].subscriptions
        subscribed = await service.is_subscribed(request.match_info["token"])
        title = service.list_title(request.match_info["token"])
    except NotFound:
        html = unsubscribe_page_html(subscribed=False, error="This link is not valid.")
        return web.Response(status=404, text=html, content_type="text/html")
    html = unsubscribe_page_html(subscribed=subscribed, list_title=title)
    return web.Response(text=html, content_type="text/html")


@routes.post("/u/{token}")
async def unsubscribe(request: web.Request) -> web.Response:
    """RFC 8058 one-click (body `List-Unsubscribe=One-Click`, as mail clients send it) or the page's
    button: unsubscribed at once, no further page to confirm. `action=subscribe` joins again."""
    service = request.app[SERVICES].subscriptions
    token = request.match_info["token"]
    try:
        form = await request.post()
    except (ValueError, AssertionError, LookupError) as error:  # bad encoding, boundary or charset
        text = f"body: not a readable form ({error})"
        return web.Response(status=400, text=text, content_type="text/plain")
    action = form.get("action")
    try:
        if action == "subscribe":
            await service.resubscribe(token)
        elif form.get("List-Unsubscribe") == "One-Click" or action == "unsubscribe":
            await service.unsubscribe(token)
        else:
            return web.Response(
                status=400,
                text="body: send List-Unsubscribe=One-Click (or action=unsubscribe / action=subscribe)",
                content_type="text/plain",
            )
        subscribed = await service.is_subscribed(token)
        title = service.list_title(token)
    except NotFound:
        html = unsubscribe_page_html(subscribed=False, error="This link is not valid.")
        return web.Response(status=404, text=html, content_type="text/html")
    html = unsubscribe_page_html(subscribed=subscribed, list_title=title)
    return web.Response(text=html, content_type="text/html")
