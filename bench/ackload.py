"""`python -m bench.ackload SPEC.json`: the ack load generator, run in its own process.

Posts signed Twilio inbound-SMS webhooks ("1" from each official's mobile) to the hub with a fixed number
in flight, bounded by the number of mobiles and by `max_seconds`, to a loopback URL only. Bodies and
signatures are computed before the clock starts so the generator spends its time sending. Prints one JSON
object: counts by status, how many replies were acknowledgements, the rate and latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import secrets
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
    """(form body, X-Twilio-Signature) for one "1" reply from each mobile. Each call's MessageSids
    carry a random prefix, so a second run in the same stack is not taken for replays of the first."""
    validator = RequestValidator(SIM_AUTH_TOKEN)
    run = secrets.randbits(32)
    out = []
    for n, mobile in enumerate(mobiles):
        params = inbound_sms_params(SIM_ACCOUNT_SID, f"SM{run:08x}{n:024x}", mobile, to, "1")
        out.append((urlencode(params).encode(), validator.compute_signature(url, params)))
    return out


async def drive(
    url: str,
    requests: list[tuple[bytes, str]],
    in_flight: int,
    max_seconds: float,
    rate: float | None = None,
) -> dict[str, Any]:
    """Post the signed replies with `in_flight` at a time, none after `max_seconds` (a hub that cannot keep
    up is not waited for). With `rate`, request i goes `i / rate` seconds after the start (as soon as a
    slot is free when behind), and the answer says how far behind it fell."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    acknowledged = 0
    next_index = 0
    behind = 0.0
    form = "application/x-www-form-urlencoded"
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=in_flight), timeout=timeout
    ) as session:
        start = time.perf_counter()

        async def client() -> None:
            nonlocal next_index, acknowledged, behind
            while next_index < len(requests) and time.perf_counter() - start < max_seconds:
                n = next_index
                next_index += 1
                if rate is not None:
                    wait = start + n / rate - time.perf_counter()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    else:
                        behind = max(behind, -wait)
                body, signature = requests[n]
                sent = time.perf_counter()
                headers = {"X-Twilio-Signature": signature, "Content-Type": form}
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        text = await response.text()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    status, text = 0, ""
                latencies.append(time.perf_counter() - sent)
                statuses[status] = statuses.get(status, 0) + 1
                acknowledged += "Acknowledged:" in text

        await asyncio.gather(*(client() for _ in range(in_flight)))
        elapsed = time.perf_counter() - start
    ok = statuses.get(200, 0)
    return {
        "requests": len(latencies),
        "not_sent": len(requests) - len(latencies),
        "status_codes": {str(k): v for k, v in sorted(statuses.items())},
        "acknowledged": acknowledged,
        "in_flight": in_flight,
        "seconds": round(elapsed, 2),
        "per_s": round(ok / elapsed, 1),
        **({"target_per_s": rate, "most_behind_s": round(behind, 3)} if rate is not None else {}),
        "p50_ms": round(1000 * (percentile(latencies, 50) or 0), 1),
        "p99_ms": round(1000 * (percentile(latencies, 99) or 0), 1),
        "max_ms": round(1000 * max(latencies, default=0), 1),
    }


def read_spec(path: Path) -> tuple[dict[str, Any], list[tuple[bytes, str]]]:
    """A load generator's spec (url, to, mobiles, ...) and its signed requests; loopback URLs only."""
    spec = json.loads(path.read_text())
    if urlparse(spec["url"]).hostname not in LOOPBACK:
        raise SystemExit(f"refusing to load anything but loopback: {spec['url']}")
    return spec, signed_requests(spec["url"], spec["to"], spec["mobiles"])


def main() -> None:
    spec, requests = read_spec(Path(sys.argv[1]))
    result = asyncio.run(drive(spec["url"], requests, spec["in_flight"], spec["max_seconds"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
