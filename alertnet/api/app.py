"""The aiohttp application: resources opened and closed with cleanup_ctx, routes split by resource."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import session_middleware

from alertnet.api import (
    acks,
    alerts,
    approvals,
    audit,
    bulletins,
    cap,
    console,
    console_editor,
    console_people,
    console_publisher,
    console_registry,
    digest,
    drills,
    health,
    metrics,
    openapi,
    pages,
    schools,
    webhooks,
)
from alertnet.api.errors import as_json_error
from alertnet.api.keys import SERVICES, SETTINGS
from alertnet.bootstrap import build_services, console_sessions
from alertnet.settings import Settings

log = structlog.get_logger("alertnet.api")
MAX_BODY = 1024 * 1024


@web.middleware
async def redis_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """While Redis is unreachable nothing can be recorded: say so with a 503 (callers and providers
    retry), instead of a 500 and a traceback per request."""
    try:
        return await handler(request)
    except redis.RedisError as error:
        # A failover: the old primary demoted (READONLY), or too few replicas to take writes (NOREPLICAS).
        failing_over = isinstance(error, redis.exceptions.ReadOnlyError) or "NOREPLICAS" in str(error)
        if not isinstance(error, (redis.ConnectionError, redis.TimeoutError)) and not failing_over:
            raise
        log.warning("redis_unavailable", path=request.path, error=error.__class__.__name__)
        unreachable = "the hub's store (Redis) is unreachable; nothing was recorded"
        return web.json_response(
            {"error": "unavailable", "message": getattr(error, "public_message", unreachable)},
            status=503,
            headers={"Retry-After": "2"},
        )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /v1 every error is JSON, aiohttp's own too (no such route, a body over the size limit)."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        response = as_json_error(error) if request.path.startswith("/v1/") else None
        if response is None:
            raise
        return response


def create_app(settings: Settings) -> web.Application:
    sessions, sessions_conn = console_sessions(settings)
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[json_errors, redis_unavailable, session_middleware(sessions)],
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_service)

    async def close_sessions(_app: web.Application) -> None:
        await sessions_conn.aclose()

    app.on_cleanup.append(close_sessions)
    for module in (
        acks,
        alerts,
        approvals,
        audit,
        bulletins,
        cap,
        console,
        console_editor,
        console_people,
        console_publisher,
        console_registry,
        digest,
        drills,
        health,
        metrics,
        openapi,
        pages,
        schools,
        webhooks,
    ):
        app.router.add_routes(module.routes)
    return app


async def _service(app: web.Application) -> AsyncIterator[None]:
    services = build_services(app[SETTINGS])
    app[SERVICES] = services
    warm = asyncio.create_task(services.registry.keep_warm())
    yield
    warm.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await warm
    await services.close()
