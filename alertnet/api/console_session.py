"""The console's sessions and CSRF tokens (aiohttp-session, stored in Redis): who is signed in, a
session that ends after `session_hours` idle, and the token every console form must carry."""

from __future__ import annotations

import hmac
import secrets
import time

from aiohttp import web
from aiohttp_session import Session, get_session, new_session

from alertnet.api.keys import SERVICES
from alertnet.domain.senders import Sender

SIGN_IN = "/console/sign-in"
EXPIRED = "This form has expired: go back, reload the page and try again."
REFUSED = '<!doctype html><html lang="en"><title>Refused</title><p>{}</p><p><a href="/console/">Back</a>'


async def csrf_token(request: web.Request) -> str:
    """The session's CSRF token (a signed-out visitor gets a session for the sign-in form's token)."""
    session = await get_session(request)
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def check_csrf(request: web.Request, submitted: object) -> None:
    """Refuse (403) a form whose token is not this session's, or that comes from another origin."""
    session = await get_session(request)
    expected = session.get("csrf")
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.rstrip("/") != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden(
            text=REFUSED.format("This form came from another site."), content_type="text/html"
        )
    fresh = isinstance(expected, str) and isinstance(submitted, str) and expected
    if not fresh or not hmac.compare_digest(str(expected).encode(), str(submitted).encode()):
        raise web.HTTPForbidden(text=REFUSED.format(EXPIRED), content_type="text/html")


async def start_session(request: web.Request, sender: Sender) -> None:
    """A new session (a new id: nothing carries over from before sign-in) for this sender."""
    session = await new_session(request)
    session["sender"] = sender.name
    session["csrf"] = secrets.token_urlsafe(32)
    session["seen"] = time.time()


async def signed_in(request: web.Request) -> tuple[Sender, Session] | None:
    """The signed-in sender and the session, if it is still active and the sender too."""
    session = await get_session(request)
    name = session.get("sender")
    if not isinstance(name, str):
        return None
    idle = request.app[SERVICES].settings.console.session_hours * 3600
    if time.time() - float(session.get("seen", 0)) > idle:
        session.invalidate()
        return None
    sender = await request.app[SERVICES].accounts.signed_in(name)
    if sender is None:
        session.invalidate()
        return None
    session["seen"] = time.time()
    return sender, session


async def require_console(request: web.Request) -> tuple[Sender, str]:
    """The signed-in sender and the CSRF token for the page's forms; else off to the sign-in page."""
    found = await signed_in(request)
    if found is None:
        raise web.HTTPSeeOther(SIGN_IN)
    return found[0], str(found[1].get("csrf", ""))
