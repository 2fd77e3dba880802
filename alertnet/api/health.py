"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from aiohttp import web
from rq import Worker

from alertnet.api.keys import SERVICE

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when Redis answers and at least one worker is registered and alive."""
    service = request.app[SERVICE]
    checks: dict[str, object] = {}
    try:
        await service.alerts.redis.ping()
        checks["redis"] = "ok"
    except Exception as error:
        checks["redis"] = f"unreachable: {error.__class__.__name__}"
    workers = 0
    if checks["redis"] == "ok":
        workers = await asyncio.to_thread(Worker.count, connection=service.dispatcher.redis)
    checks["workers"] = workers
    ready = checks["redis"] == "ok" and workers > 0
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)
