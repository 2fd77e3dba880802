"""AppKeys and the auth helper shared by handlers."""

from __future__ import annotations

import json

from aiohttp import web

from alertnet.bootstrap import Services
from alertnet.domain.senders import Sender
from alertnet.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)


async def require_sender(request: web.Request) -> Sender:
    """The authenticated sender, or a 401 naming what is wrong with the credentials."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        reason = "missing Authorization header" if not header else "Authorization must be 'Bearer <token>'"
        raise await _refused(request, reason)
    sender = await request.app[SERVICES].senders.authenticate(token.strip())
    if sender is None:
        raise await _refused(request, "unknown or revoked token")
    return sender


async def _refused(request: web.Request, reason: str) -> web.HTTPUnauthorized:
    """A 401, audited (reads too: probing for a token is probing, whatever the method) in the refusals'
    own capped, per-client rate-limited stream."""
    await request.app[SERVICES].senders.refused(request.remote or "", request.method, request.path, reason)
    return web.HTTPUnauthorized(
        text=json.dumps({"error": "unauthorized", "message": reason}),
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="alertnet"'},
    )
