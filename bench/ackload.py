"""`python -m bench.ackload SPEC.json`: the ack load generator, run in its own process.

Posts signed Twilio inbound-SMS webhooks ("1" from each official's mobile) to the hub with a fixed number
in flight, bounded by the number of mobiles and by `max_seconds`, to a loopback URL only. Bodies and
signatures are computed before the clock starts so the generator spends its time sending. Prints one JSON
object: counts by status, how many replies were acknowledgements, the rate and latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import aiohttp
from twilio.request_validator import RequestValidator

from alertnet.settings import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN
from alertnet.sim.twilio_common import inbound_sms_params
from bench.stats import percentile

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def signed_requests(url: str, to: str, mobiles: list[str]) -> list[tuple[bytes, str]]:
    """(form body, X-Twilio-Signature) for one "1" reply from each mobile."""
    validator = RequestValidator(SIM_AUTH_TOKEN)
    out = []
    for n, mobile in enumerate(mobiles):
        params = inbound_sms_params(SIM_ACCOUNT_SID, f"SM{n:032x}", mobile, to, "1")
        out.append((urlencode(params).encode(), validator.compute_signature(url, params)))
    return out


async def drive(
    url: str, requests: list[tuple[bytes, str]], in_flight: int, max_seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    acknowledged = 0
    next_index = 0
    form = "application/x-www-form-urlencoded"
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=in_flight), timeout=timeout
    ) as session:
        deadline = time.perf_counter() + max_seconds

        async def client() -> None:
            nonlocal next_index, acknowledged
            while next_index < len(requests) and time.perf_counter() < deadline:
                body, signature = requests[next_index]
                next_index += 1
                start = time.perf_counter()
                headers = {"X-Twilio-Signature": signature, "Content-Type": form}
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        text = await response.text()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    status, text = 0, ""
                latencies.append(time.perf_counter() - start)
                statuses[status] = statuses.get(status, 0) + 1
                acknowledged += "Acknowledged:" in text

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(in_flight)))
        elapsed = time.perf_counter() - start
    ok = statuses.get(200, 0)
    return {
        "requests": len(latencies),
        "status_codes": {str(k): v for k, v in sorted(statuses.items())},
        "acknowledged": acknowledged,
        "in_flight": in_flight,
        "seconds": round(elapsed, 2),
        "per_s": round(ok / elapsed, 1),
        "p50_ms": round(1000 * (percentile(latencies, 50) or 0), 1),
        "p99_ms": round(1000 * (percentile(latencies, 99) or 0), 1),
        "max_ms": round(1000 * max(latencies, default=0), 1),
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    url = spec["url"]
    if urlparse(url).hostname not in LOOPBACK:
        raise SystemExit(f"refusing to load anything but loopback: {url}")
    requests = signed_requests(url, spec["to"], spec["mobiles"])
    result = asyncio.run(drive(url, requests, spec["in_flight"], spec["max_seconds"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
