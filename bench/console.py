"""The console's figures: 20 live views (server-sent events, one per browser tab) open during the statewide
fan-out, against the same fan-out with none (median of `console_repeats` pairs, alternated), and the
prepared correction (the console's one-click Cancel, "sent in error") of each watched statewide alert in
turn: from the click to the Cancel's last provider request, timed by the simulators' clocks (median)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import requests

from alertnet.domain.followups import cancel_in_error_request
from bench.fanout import run_fanout, wait_drained, wait_for_provider
from bench.stack import Stack
from bench.stats import median

VIEWER = "bench-watcher"
PASSWORD = "a long bench passphrase"
VIEWS = 20


def signed_in(stack: Stack) -> requests.Session:
    """A console session (a viewer: live views are what viewers do), as a browser signs in."""
    stack.run_cli("senders", "add", VIEWER, "--role", "viewer", "--password", input_text=PASSWORD + "\n")
    session = requests.Session()
    page = session.get(f"{stack.api}/console/sign-in", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    form = {"name": VIEWER, "password": PASSWORD, "csrf": csrf.group(1) if csrf else ""}
    answer = session.post(f"{stack.api}/console/sign-in", data=form, timeout=30)
    if not answer.url.endswith("/console/"):
        raise RuntimeError(f"console sign-in failed ({answer.status_code})")
    return session


class LiveViews:
    """`count` tabs following an alert's live view until stopped; counts the updates each received."""

    def __init__(self, session: requests.Session, url: str, count: int) -> None:
        self.session, self.url = session, url
        self.stop = threading.Event()
        self.events = [0] * count
        self.threads = [threading.Thread(target=self._follow, args=(i,), daemon=True) for i in range(count)]

    def _follow(self, n: int) -> None:
        cookies = {
            name: value for name, value in self.session.cookies.get_dict().items() if value is not None
        }
        with requests.get(self.url, cookies=cookies, stream=True, timeout=(10, 60)) as stream:
            for chunk in stream.iter_content(chunk_size=None):
                self.events[n] += chunk.count(b"event: progress")
                if self.stop.is_set():
                    break

    def __enter__(self) -> LiveViews:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=70)


def newest_alert(stack: Stack, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    listed = requests.get(f"{stack.api}/v1/alerts", params={"limit": 1}, headers=headers, timeout=30)
    listed.raise_for_status()
    return str(listed.json()["alerts"][0]["id"])


def run_console(
    stack: Stack, token: str, *, repeats: int, timeout: float, drain: float, log: Callable[[str], None]
) -> dict[str, Any]:
    session = signed_in(stack)
    without: list[float] = []
    with_views: list[float] = []
    updates: list[int] = []
    watched: list[str] = []
    # What the views cost the API processes themselves, beside the wall clock (which drifts on a shared
    # host): their CPU-seconds during each fan-out.
    api_cpu: dict[str, list[float]] = {"without": [], "with_views": []}
    for n in range(repeats):
        run = run_fanout(stack, token, timeout=timeout)
        wait_drained(stack, token, [run["alert_id"]], drain)
        without.append(run["post_to_last_request_s"])
        api_cpu["without"].append(run["cpu_seconds"]["api"])
        views: list[LiveViews] = []

        def open_views(views: list[LiveViews] = views) -> None:
            alert_id = newest_alert(stack, token)
            view = LiveViews(session, f"{stack.api}/console/alerts/{alert_id}/events", VIEWS)
            views.append(view.__enter__())

        run = run_fanout(stack, token, timeout=timeout, on_posted=open_views)
        with_views.append(run["post_to_last_request_s"])
        api_cpu["with_views"].append(run["cpu_seconds"]["api"])
        if views:
            views[0].__exit__()
            updates.append(min(views[0].events))
        wait_drained(stack, token, [run["alert_id"]], drain)
        watched.append(run["alert_id"])
        log(f"  pair {n + 1}: {without[-1]} s without, {with_views[-1]} s with {VIEWS} live views")
    slowed, base = median(with_views), median(without)
    if slowed is None or base is None:
        raise ValueError("the live-views figure needs at least one pair of fan-outs")
    slowdown = slowed / base - 1
    return {
        "views": VIEWS,
        "without_s": without,
        "with_views_s": with_views,
        "median_without_s": median(without),
        "median_with_views_s": median(with_views),
        "slowdown": round(slowdown, 4),
        "fewest_updates_per_view": min(updates) if updates else 0,
        "api_cpu_s": api_cpu,
        "correction": corrections(stack, token, watched, timeout, drain, log),
    }


def corrections(
    stack: Stack, token: str, alert_ids: list[str], timeout: float, drain: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """The prepared Cancel of each statewide alert, one after another (each once the last has settled):
    the median click-to-last-request, as for the live views (this host's speed drifts between runs)."""
    runs = []
    for alert_id in alert_ids:
        runs.append(correction(stack, token, alert_id, timeout))
        wait_drained(stack, token, [newest_alert(stack, token)], drain)
        log(f"  correction of {alert_id}: {runs[-1]['click_to_last_request_s']} s")
    times = [r["click_to_last_request_s"] for r in runs if r["click_to_last_request_s"] is not None]
    return {
        "runs": runs,
        "deliveries": min(r["deliveries"] for r in runs),
        "expected": max(r["expected"] for r in runs),
        "complete": all(r["complete"] for r in runs),
        "click_to_last_request_s": median(times) if len(times) == len(runs) else None,
        "each_s": times,
    }


def correction(stack: Stack, token: str, alert_id: str, timeout: float) -> dict[str, Any]:
    """The prepared Cancel of the statewide alert, posted as the console's button posts it (the same
    request through the same service), timed from the click to its last provider request."""
    original = stack.alert_status(token, alert_id)["alert"]
    stack.reset_sim()
    answer, clicked, latency = stack.post_alert(token, cancel_in_error_request(alert_id, original))
    expected = sum(answer["recipients"].values())
    wait = wait_for_provider(stack, expected, clicked, timeout)
    kinds = wait.stats["kinds"]
    lasts = [kinds[k]["last_request_at"] for k in ("sms", "voice", "email") if kinds[k]["last_request_at"]]
    return {
        "deliveries": sum(wait.stats["counts"].values()),
        "expected": expected,
        "complete": wait.complete,
        "post_latency_s": round(latency, 3),
        "click_to_last_request_s": round(max(lasts) - clicked, 2) if lasts else None,
    }


def _api_cpu(c: dict[str, Any]) -> str:
    cpu = c.get("api_cpu_s")
    if not cpu or not cpu["without"] or not cpu["with_views"]:
        return ""
    return f"; API {median(cpu['with_views']):.1f} vs {median(cpu['without']):.1f} CPU-s"


def console_rows(f: dict[str, Any], row: Callable[[str, str, str, bool | None], Any]) -> list[Any]:
    c = f.get("console")
    if not c:
        return []
    rows = [
        row(
            f"9. Fan-out with {c['views']} live views open",
            f"{c['median_with_views_s']:.1f} s vs {c['median_without_s']:.1f} s without "
            f"({c['slowdown']:+.1%}; median of {len(c['without_s'])} pairs; each view got "
            f"≥ {c['fewest_updates_per_view']} updates{_api_cpu(c)})",
            "≤ +10%",
            c["slowdown"] <= 0.10,
        )
    ]
    fix = c.get("correction") or {}
    if fix.get("click_to_last_request_s") is not None:
        each = fix.get("each_s", [])
        runs = f" (median of {', '.join(f'{t:.1f}' for t in each)} s)" if len(each) > 1 else ""
        rows.append(
            row(
                "9. Correction (Cancel, sent in error): click to last provider request",
                f"{fix['click_to_last_request_s']:.1f} s for {fix['deliveries']:,} deliveries{runs}",
                "≤ 60 s",
                fix["complete"] and fix["click_to_last_request_s"] <= 60,
            )
        )
    return rows
