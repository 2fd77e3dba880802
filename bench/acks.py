"""Figure 5: signed inbound-SMS acknowledgements per second the API sustains, with latency percentiles.

The load comes from `bench.ackload` in a second process. Every official replying has an open alert (the
fan-out's and the bulk send's), so each reply is a real first acknowledgement; the count of acks stored
in Redis afterwards is checked against the replies that said so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench.stack import REPO, Stack


def stored_acks(stack: Stack) -> int:
    """Acknowledgements recorded in the bench's Redis, over all alerts."""
    conn = stack.redis()
    try:
        return sum(int(conn.hlen(key)) for key in conn.scan_iter(match="an:acks:*", count=1000))
    finally:
        conn.close()


def run_acks(stack: Stack, mobiles: list[str], *, in_flight: int, max_seconds: float) -> dict[str, Any]:
    """Run the generator once over `mobiles` (each replies "1" once)."""
    spec_path = stack.workdir / "ackload.json"
    spec = {
        "url": f"{stack.api}/v1/webhooks/twilio/sms",
        "to": stack.settings.twilio.sms_from[0],
        "mobiles": mobiles,
        "in_flight": in_flight,
        "max_seconds": max_seconds,
    }
    spec_path.write_text(json.dumps(spec))
    before = stored_acks(stack)
    result = subprocess.run(
        [sys.executable, "-m", "bench.ackload", str(spec_path)],
        capture_output=True,
        text=True,
        timeout=max_seconds + 120,
        cwd=REPO,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ack load generator failed: {result.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(result.stdout)
    answer["acks_stored"] = stored_acks(stack) - before
    return answer
