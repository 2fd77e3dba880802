"""The aiohttp application: resources opened and closed with cleanup_ctx, routes split by resource."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from twilio.request_validator import RequestValidator

from alertnet.api import acks, alerts, health, openapi, pages, webhooks
from alertnet.api.keys import SERVICE, SETTINGS
from alertnet.bootstrap import build_services
from alertnet.settings import Settings

MAX_BODY = 1024 * 1024


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[webhooks.VALIDATOR] = RequestValidator(settings.twilio_auth_token)
    app.cleanup_ctx.append(_service)
    for module in (acks, alerts, health, openapi, pages, webhooks):
        app.router.add_routes(module.routes)
    return app


async def _service(app: web.Application) -> AsyncIterator[None]:
    service, ack_service = build_services(app[SETTINGS])
    app[SERVICE] = service
    app[acks.ACKS] = ack_service
    yield
    await service.alerts.redis.aclose()
    service.dispatcher.redis.close()
