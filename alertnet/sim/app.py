"""The simulator application: Twilio REST, SendGrid v3 and the /sim control endpoints on one port."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from alertnet.sim import control
from alertnet.sim.context import SIM, Sim
from alertnet.sim.event_keys import publish_event_key
from alertnet.sim.sendgrid import SendGridApi
from alertnet.sim.settings import SimSettings
from alertnet.sim.twilio import TwilioApi

# SendGrid accepts up to 30 MB per request; 1,000 personalizations with links fit easily.
MAX_BODY_BYTES = 32 * 1024 * 1024


def create_sim_app(
    settings: SimSettings,
    *,
    account_sid: str,
    auth_token: str,
    sendgrid_key: str,
    hub_url: str,
    event_key: ec.EllipticCurvePrivateKey | None = None,
) -> web.Application:
    """Build the simulator app.

    `hub_url` is the hub's base URL: SendGrid events go to `{hub_url}/v1/webhooks/sendgrid/events` and
    `/sim/reply` posts to `{hub_url}/v1/webhooks/twilio/sms`. Twilio callbacks go to whatever URLs the hub
    passes (StatusCallback, Url). Webhook workers start and stop with the app (startup / cleanup).
    """
    sim = Sim(
        settings,
        account_sid=account_sid,
        auth_token=auth_token,
        sendgrid_key=sendgrid_key,
        hub_url=hub_url,
        event_key=event_key,
    )
    twilio = TwilioApi(sim)
    sendgrid = SendGridApi(sim)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SIM] = sim
    app.add_routes(twilio.routes())
    app.add_routes(sendgrid.routes())
    app.add_routes(control.routes)

    async def background(app: web.Application) -> AsyncIterator[None]:
        await sim.dispatcher.start()
        await sendgrid.start()
        yield
        await sendgrid.close()
        await sim.dispatcher.close()

    app.cleanup_ctx.append(background)
    return app


async def run_sim(
    settings: SimSettings,
    *,
    account_sid: str,
    auth_token: str,
    sendgrid_key: str,
    hub_url: str,
    event_key: ec.EllipticCurvePrivateKey | None = None,
    event_key_path: Path | None = None,
) -> None:
    """Serve the simulators on settings.host:settings.port until SIGTERM / SIGINT (or cancellation).

    SendGrid events are signed with `event_key`, or with the key at `event_key_path` (created there on first
    start), whose public half is written to `public_key_path(event_key_path)` before serving starts.
    """
    if event_key_path is not None:
        if event_key is not None:
            raise ValueError("pass event_key or event_key_path, not both")
        event_key = publish_event_key(event_key_path)
    app = create_sim_app(
        settings,
        account_sid=account_sid,
        auth_token=auth_token,
        sendgrid_key=sendgrid_key,
        hub_url=hub_url,
        event_key=event_key,
    )
    # No access log: per-request logging would cost more than the requests themselves.
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, settings.host, settings.port, backlog=2048, reuse_address=True)
        await site.start()
        await stop.wait()
    finally:
        await runner.cleanup()
