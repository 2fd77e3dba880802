"""Provider limits: with per-sender SMS rates and a calls-per-second limit configured, a fan-out should
take as long as those limits say (within 5 %) and never draw a 429 from the simulator.

Runs on a stack of its own (own Redis, own processes), after the main stack is stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.fanout import run_fanout
from bench.stack import open_stack

TOLERANCE = 0.05


def _channel(run: dict[str, Any], kind: str, rate: float) -> dict[str, Any]:
    info = run["per_kind"][kind]
    n = info["deliveries"]
    actual = info["last_s"] - info["first_s"]
    ideal = (n - 1) / rate  # the first send goes at once, then one every 1/rate seconds
    return {
        "deliveries": n,
        "limit_per_s": rate,
        "ideal_s": round(ideal, 2),
        "actual_s": round(actual, 2),
        "deviation": round(actual / ideal - 1, 4) if ideal else None,
        "status_codes": info["status_codes"],
    }


def run_paced(
    workdir: Path, officials: int, *, sms_rate_per_sender: float, calls_per_second: float, workers: int
) -> dict[str, Any]:
    overrides = {
        "ALERTNET_TWILIO_SMS_RATE_PER_SENDER": str(sms_rate_per_sender),
        "ALERTNET_TWILIO_CALLS_PER_SECOND": str(calls_per_second),
    }
    with open_stack(workdir, workers=workers, **overrides) as stack:
        stack.generate_and_import(officials)
        token = stack.add_sender("bench-paced")
        senders = len(stack.settings.twilio.sms_from)
        timeout = 60 + 1.5 * officials / min(senders * sms_rate_per_sender, calls_per_second)
        run = run_fanout(stack, token, timeout=timeout)
    sms = _channel(run, "sms", senders * sms_rate_per_sender)
    voice = _channel(run, "voice", calls_per_second)
    too_many = sum(run["per_kind"][k]["status_codes"].get("429", 0) for k in ("sms", "voice", "email"))
    within = all(c["deviation"] is not None and abs(c["deviation"]) <= TOLERANCE for c in (sms, voice))
    return {
        "officials": officials,
        "sms_senders": senders,
        "sms": sms,
        "voice": voice,
        "post_to_last_request_s": run["post_to_last_request_s"],
        "responses_429": too_many,
        "within_5_percent": within,
        "met": within and too_many == 0,
    }
