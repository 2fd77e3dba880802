"""Figure 2: the simulator's own ceiling, i.e. how many Twilio Messages POSTs a second a tight async
client gets from the same simulator process the pipeline uses.

The client is as cheap as a client can be: bodies are encoded once, ~100 requests are in flight on a
pooled aiohttp session, and answers are only counted. No StatusCallback is asked for, so the simulator
does the least work per request (the pipeline's requests also make it post callbacks).
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from alertnet.settings import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN

IN_FLIGHT = 100
CEILING_FROM = "+15735550100"


def _bodies(count: int) -> list[bytes]:
    """Distinct form bodies (one per recipient), encoded before the clock starts."""
    return [
        urlencode(
            {
                "To": f"+1573{2000000 + i % 7000000:07d}",
                "From": CEILING_FROM,
                "Body": "Ceiling probe: a one-segment alert text of typical length for the bench.",
                "ValidityPeriod": "900",
            }
        ).encode()
        for i in range(count)
    ]


async def _drive(sim_url: str, bodies: list[bytes], seconds: float) -> dict[str, Any]:
    url = f"{sim_url}/2010-04-01/Accounts/{SIM_ACCOUNT_SID}/Messages.json"
    token = base64.b64encode(f"{SIM_ACCOUNT_SID}:{SIM_AUTH_TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/x-www-form-urlencoded"}
    statuses: dict[int, int] = {}
    next_index = 0
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            nonlocal next_index
            while next_index < len(bodies) and time.perf_counter() < deadline:
                body = bodies[next_index]
                next_index += 1
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - start
    ok = statuses.get(201, 0)
    return {
        "requests": sum(statuses.values()),
        "created": ok,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(ok / elapsed, 1),
        "status_codes": {str(k): v for k, v in sorted(statuses.items())},
    }


def measure_ceiling(sim_url: str, *, max_requests: int, max_seconds: float) -> dict[str, Any]:
    """One bounded run (at most `max_requests` requests and `max_seconds` seconds), after a short warm-up."""
    asyncio.run(_drive(sim_url, _bodies(500), 5.0))
    return asyncio.run(_drive(sim_url, _bodies(max_requests), max_seconds))
