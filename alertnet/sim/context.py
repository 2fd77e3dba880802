"""The state one simulator instance shares between its Twilio, SendGrid and control endpoints."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from alertnet.sim.callbacks import Dispatcher
from alertnet.sim.faults import HANG, Faults
from alertnet.sim.settings import SimSettings
from alertnet.sim.store import Store


class Sim:
    """Credentials, the hub's URL, the log, the current faults and the webhook dispatcher."""

    def __init__(
        self,
        settings: SimSettings,
        *,
        account_sid: str,
        auth_token: str,
        sendgrid_key: str,
        hub_url: str,
        event_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        self.settings = settings
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sendgrid_key = sendgrid_key
        self.hub_url = hub_url.rstrip("/")
        self.callback_delay = max(0.0, settings.callback_delay)
        self.store = Store()
        self.faults = Faults()
        self.dispatcher = Dispatcher(self.store, auth_token, event_key=event_key)

    async def injected_fault(self, request: web.Request | None = None) -> int:
        """Apply latency and return the status a send request should fail with (0: none).

        Callers check `self.faults.any_request_fault` first so the common case costs one attribute read.
        """
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        status = faults.request_fault()
        if status == HANG:
            # Past the client's timeout: whatever is answered now reaches nobody, and nothing was done.
            await self._hang(request)
            return 504
        return status

    async def accepted_fault(self, request: web.Request | None = None) -> int:
        """For a send request that was processed (it goes out): hold its answer past the client's
        timeout, or return the error status to answer instead of success (0: answer normally)."""
        status = self.faults.accepted_fault()
        if status == HANG:
            await self._hang(request)
            return 0
        return status

    async def _hang(self, request: web.Request | None) -> None:
        """Hold the request `hang_ms`, then count whether its client gave up meanwhile (`/sim/stats`)."""
        await asyncio.sleep(self.faults.hang_ms / 1000)
        if request is None:
            return
        gone = request.transport is None or request.transport.is_closing()
        path = request.path
        kind = "email"
        if path.endswith(("/Messages.json", "/Calls.json")):
            kind = "sms" if path.endswith("/Messages.json") else "voice"
        self.store.hangs[f"{kind}:{'abandoned' if gone else 'waited'}"] += 1


SIM = web.AppKey("sim", Sim)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A compact JSON response (no per-request indentation work)."""
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )
