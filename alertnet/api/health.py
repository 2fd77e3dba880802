"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from alertnet.api.keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when Redis answers and at least one worker is registered and alive."""
    ready, checks = await request.app[SERVICES].health.readiness()
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)
