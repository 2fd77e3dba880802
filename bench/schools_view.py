"""Figure 10: the per-school view of a statewide alert while acknowledgements arrive at 1,000/s.

`run_schools_view` sends a statewide SMS lockdown (every official has a mobile, so it targets every
school), waits until its deliveries settle, then plays signed "1" replies into the hub's Twilio SMS
webhook at a fixed rate from a second process (the path an official's reply takes; each is the first
acknowledgement of that official, since this alert is the newest open one) while this process reads
`GET /v1/alerts/{id}/schools` a few times a second, timing each answer to its last byte.

`python -m bench.schools_view [--officials N]` runs this figure alone on a stack of its own and prints
its figures; `python -m bench.schools_view --acks SPEC.json` is the paced ack generator it starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import requests

from bench.ackload import drive, read_spec
from bench.fanout import wait_drained, wait_for_provider
from bench.payloads import LOCKDOWN, Registry
from bench.stack import REPO, Stack, open_stack
from bench.stats import percentile

ACK_RATE = 1000.0  # acknowledgements per second the generator aims at
ACK_SECONDS = 30.0
ACK_IN_FLIGHT = 64  # enough for 1,000/s at up to 64 ms a reply
POLLS_PER_S = 5.0  # per viewer
VIEWERS = 1
TARGET_P95_MS = 200.0


# -- the paced ack generator (its own process) ------------------------------------------------------------


def generator_main(spec_path: Path) -> None:
    spec, signed = read_spec(spec_path)
    print("ready", flush=True)  # signatures computed: the clock starts now
    result = asyncio.run(
        drive(spec["url"], signed, spec["in_flight"], spec["max_seconds"], rate=spec["rate"])
    )
    print(json.dumps(result), flush=True)


# -- the viewers (this process) ---------------------------------------------------------------------------


class Viewers:
    """`count` threads reading the view every `1 / per_s` seconds until stopped; latencies in seconds."""

    def __init__(self, url: str, token: str, count: int, per_s: float) -> None:
        self.url, self.per_s = url, per_s
        self.headers = {"Authorization": f"Bearer {token}"}
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.failures: dict[str, int] = {}
        self.last: bytes = b""
        self.threads = [threading.Thread(target=self._poll, daemon=True) for _ in range(count)]

    def _poll(self) -> None:
        with requests.Session() as session:
            due = time.perf_counter()
            while not self.stop.is_set():
                start = time.perf_counter()
                try:
                    response = session.get(self.url, headers=self.headers, timeout=30)
                    status = str(response.status_code)
                except requests.RequestException as error:
                    status = type(error).__name__
                elapsed = time.perf_counter() - start
                if status == "200":
                    self.latencies.append(elapsed)
                    self.last = response.content
                else:
                    self.failures[status] = self.failures.get(status, 0) + 1
                due = max(due + 1 / self.per_s, time.perf_counter())
                self.stop.wait(due - time.perf_counter())

    def __enter__(self) -> Viewers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def _ms(values: list[float], p: float) -> float | None:
    found = percentile(values, p)
    return None if found is None else round(1000 * found, 1)


def _read_view(stack: Stack, token: str, alert_id: str) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    response = requests.get(
        f"{stack.api}/v1/alerts/{alert_id}/schools",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return elapsed, answer


def _start_generator(stack: Stack, mobiles: list[str], rate: float, seconds: float) -> subprocess.Popen[str]:
    spec_path = stack.workdir / "schools-view-acks.json"
    spec = {
        "url": f"{stack.api}/v1/webhooks/twilio/sms",
        "to": stack.settings.twilio.sms_from[0],
        "mobiles": mobiles,
        "rate": rate,
        "in_flight": ACK_IN_FLIGHT,
        "max_seconds": seconds * 1.5 + 5,
    }
    spec_path.write_text(json.dumps(spec))
    return subprocess.Popen(
        [sys.executable, "-m", "bench.schools_view", "--acks", str(spec_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _wait_ready(proc: subprocess.Popen[str], timeout: float) -> None:
    stdout: IO[str] | None = proc.stdout
    assert stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result or result[0].strip() != "ready":
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"paced ack generator did not start: {err[-2000:]}")


def run_schools_view(
    stack: Stack,
    token: str,
    mobiles: list[str],
    *,
    rate: float = ACK_RATE,
    seconds: float = ACK_SECONDS,
    viewers: int = VIEWERS,
    polls_per_s: float = POLLS_PER_S,
    timeout: float = 600.0,
    drain: float = 300.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Send the statewide alert, then read its per-school view while acks arrive at `rate` for `seconds`."""
    stack.reset_sim()
    answer, sent, post_latency = stack.post_alert(token, {**LOCKDOWN, "channels": ["sms"]})
    alert_id = answer["id"]
    expected = sum(answer["recipients"].values())
    wait = wait_for_provider(stack, expected, sent, timeout)
    if not wait.complete:
        raise RuntimeError(f"statewide SMS incomplete after {timeout:.0f} s: {wait.stats['counts']}")
    wait_drained(stack, token, [alert_id], drain)
    cold_s, before = _read_view(stack, token, alert_id)  # the first read after the send
    warm_s, _ = _read_view(stack, token, alert_id)
    schools = len(before["schools"])
    log(f"  {schools:,} schools; first read {cold_s * 1000:.0f} ms, then {warm_s * 1000:.0f} ms")

    repliers = list(mobiles)
    random.Random(10).shuffle(repliers)  # replies come from all over the state, not district by district
    repliers = repliers[: int(rate * seconds)]
    proc = _start_generator(stack, repliers, rate, seconds)
    try:
        _wait_ready(proc, 120)
        url = f"{stack.api}/v1/alerts/{alert_id}/schools"
        started = time.perf_counter()
        with Viewers(url, token, viewers, polls_per_s) as views:
            while proc.poll() is None and time.perf_counter() - started < seconds + 120:
                stack.check_alive()
                time.sleep(0.2)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"paced ack generator failed: {err[-2000:]}")
    acks: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    _, after = _read_view(stack, token, alert_id)
    last: dict[str, Any] = json.loads(views.last) if views.last else {}
    latencies = views.latencies
    return {
        "alert_id": alert_id,
        "recipients": expected,
        "post_latency_s": round(post_latency, 3),
        "schools": len(after["schools"]),
        "targeted": after["targeted"],
        "reached_at_end": after["reached"],
        "acknowledged_in_view_at_end": sum(len(s.get("acknowledged_by", [])) for s in after["schools"]),
        "last_polled_reached": last.get("reached"),
        "first_read_ms": round(cold_s * 1000, 1),
        "idle_read_ms": round(warm_s * 1000, 1),
        "viewers": viewers,
        "polls_per_s": polls_per_s * viewers,
        "reads": len(latencies),
        "failed_reads": views.failures,
        "p50_ms": _ms(latencies, 50),
        "p95_ms": _ms(latencies, 95),
        "p99_ms": _ms(latencies, 99),
        "max_ms": _ms(latencies, 100),
        "acks": acks,
    }


def schools_view_rows(f: dict[str, Any], row: Callable[[str, str, str, bool | None], Any]) -> list[Any]:
    s = f.get("schools_view")
    if not s or s.get("p95_ms") is None:
        return []
    a = s["acks"]
    measured = (
        f"p50 {s['p50_ms']:.0f} ms, p95 {s['p95_ms']:.0f} ms, max {s['max_ms']:.0f} ms "
        f"({s['reads']} reads of {s['schools']:,} schools, {s['recipients']:,} officials; "
        f"acks {a['per_s']:,.0f}/s of {a['target_per_s']:,.0f}/s)"
    )
    met = s["p95_ms"] < TARGET_P95_MS and a["per_s"] >= 0.95 * a["target_per_s"]
    return [row("10. Per-school view while acks arrive", measured, "p95 < 200 ms at 1,000 acks/s", met)]


# -- this figure alone ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.schools_view", description=__doc__)
    parser.add_argument("--acks", type=Path, help=argparse.SUPPRESS)  # the generator process
    parser.add_argument("--officials", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=ACK_RATE)
    parser.add_argument("--seconds", type=float, default=ACK_SECONDS)
    parser.add_argument("--viewers", type=int, default=VIEWERS)
    parser.add_argument("--polls-per-s", type=float, default=POLLS_PER_S)
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args(argv)
    if args.acks is not None:
        generator_main(args.acks)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="alertnet-bench-schools-"))
    try:
        print(f"starting a stack and importing {args.officials:,} officials ...", flush=True)
        with open_stack(workdir / "main") as stack:
            registry = Registry.read(stack.generate_and_import(args.officials))
            token = stack.add_sender("bench-director")
            figures = run_schools_view(
                stack,
                token,
                registry.mobiles,
                rate=args.rate,
                seconds=args.seconds,
                viewers=args.viewers,
                polls_per_s=args.polls_per_s,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
