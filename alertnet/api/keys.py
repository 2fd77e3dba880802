"""AppKeys and the auth helper shared by handlers."""

from __future__ import annotations

import json

from aiohttp import web

from alertnet.senders import Sender
from alertnet.service import AlertService
from alertnet.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", AlertService)


async def require_sender(request: web.Request) -> Sender:
    """The authenticated sender, or a 401 naming what is wrong with the credentials."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        reason = "missing Authorization header" if not header else "Authorization must be 'Bearer <token>'"
        raise await _refused(request, reason)
    sender = await request.app[SERVICE].authenticate(token.strip())
    if sender is None:
        raise await _refused(request, "unknown or revoked token")
    return sender


async def _refused(request: web.Request, reason: str) -> web.HTTPUnauthorized:
    """A 401; a refused attempt to send or change something also goes into the audit trail."""
    if request.method != "GET":
        await request.app[SERVICE].audit.record(
            actor="unauthenticated",
            action=f"{request.method} {request.path}",
            outcome="unauthorized",
            reason=reason,
        )
    return _unauthorized(reason)


def _unauthorized(reason: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=json.dumps({"error": "unauthorized", "message": reason}),
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="alertnet"'},
    )
