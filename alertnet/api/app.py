"""The aiohttp application: resources opened and closed with cleanup_ctx, routes split by resource."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from alertnet.api import acks, alerts, audit, health, openapi, pages, webhooks
from alertnet.api.keys import SERVICE, SETTINGS
from alertnet.bootstrap import build_services
from alertnet.event_keys import load_or_create_private_key, public_key_b64
from alertnet.settings import Settings

log = structlog.get_logger("alertnet.api")
MAX_BODY = 1024 * 1024


def event_public_key(settings: Settings) -> str:
    """SendGrid's Event Webhook verification key; with the simulator, the public half of its key."""
    if settings.sendgrid.event_public_key or not settings.sendgrid_simulated:
        return settings.sendgrid.event_public_key
    return public_key_b64(load_or_create_private_key(settings.sim_event_key_path))


@web.middleware
async def redis_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """While Redis is unreachable nothing can be recorded: say so with a 503 (callers and providers
    retry), instead of a 500 and a traceback per request."""
    try:
        return await handler(request)
    except (redis.ConnectionError, redis.TimeoutError) as error:
        log.warning("redis_unavailable", path=request.path, error=error.__class__.__name__)
        return web.json_response(
            {
                "error": "unavailable",
                "message": "the hub's store (Redis) is unreachable; nothing was recorded",
            },
            status=503,
            headers={"Retry-After": "2"},
        )


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[redis_unavailable])
    app[SETTINGS] = settings
    app[webhooks.VALIDATOR] = RequestValidator(settings.twilio_auth_token)
    app[webhooks.EVENT_KEY] = EventWebhook(event_public_key(settings))
    app.cleanup_ctx.append(_service)
    for module in (acks, alerts, audit, health, openapi, pages, webhooks):
        app.router.add_routes(module.routes)
    return app


async def _service(app: web.Application) -> AsyncIterator[None]:
    service, ack_service = build_services(app[SETTINGS])
    app[SERVICE] = service
    app[acks.ACKS] = ack_service
    warm = asyncio.create_task(service.officials.keep_warm())
    yield
    warm.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await warm
    await service.alerts.redis.aclose()
    service.dispatcher.redis.close()
