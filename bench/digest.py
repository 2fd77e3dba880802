"""Figure 8: the weekly digest to every subscriber, with an item for each region, and an alert during it.

Two editors are created; one adds a statewide item and one item per region, the other approves, and
`alertnet digest run-due --at <send time>` sends the issue, as the scheduler would. Officials whose item
set is the same share SendGrid requests, so the requests used are bounded by (distinct item sets) +
recipients / 1,000. A critical alert is posted once the digest's first request has reached the
simulator; its first SMS time is read back from the simulator.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import requests

from bench.fanout import wait_for_provider
from bench.payloads import Registry, critical_alert
from bench.priority import first_sms
from bench.stack import Stack
from bench.stats import rounded


def _call(stack: Stack, token: str, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(
        method, f"{stack.api}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=120, **kwargs
    )
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
    return response.json()


def run_digest(stack: Stack, director: str, registry: Registry, *, timeout: float) -> dict[str, Any]:
    editor = stack.add_sender("bench-editor", "editor")
    statewide = {"title": "Statewide: school safety grants open", "body": "Apply by **March 1**."}
    grant = _call(stack, editor, "POST", "/v1/digest/items", json={**statewide, "category": "grants"})
    regions = sorted(set(registry.regions))
    for region in regions:
        item = {"title": f"{region}: drill workshop", "body": "Sign up with your RPDC.", "category": "drills"}
        _call(stack, editor, "POST", "/v1/digest/items", json={**item, "audience": {"regions": [region]}})
    # The items' own issue: between Thursday's cut-off and Friday's send it is the one after "next".
    number = grant["issue"]
    _call(stack, director, "POST", f"/v1/digest/issues/{number}/approve")
    issue = _call(stack, editor, "GET", f"/v1/digest/issues/{number}")
    stack.reset_sim()
    started = time.time()
    out = stack.cli("digest", "run-due", "--at", datetime.fromisoformat(issue["send_time"]).isoformat())
    run_due_s = time.time() - started
    line = next(row for row in out.splitlines() if row.startswith(f"issue {issue['number']}: sent"))
    recipients = int(line.split(": ")[2].split(" recipients")[0])
    editions = int(line.split(", ")[1].split(" editions")[0])
    deadline = time.monotonic() + timeout
    while not stack.sim_stats()["kinds"]["email"]["requests"] and time.monotonic() < deadline:
        time.sleep(0.02)
    district = registry.districts(1)[0]
    answer, sent, _ = stack.post_alert(director, critical_alert(district))
    wait = wait_for_provider(stack, recipients + answer["recipients"]["sms"], started, timeout)
    email = wait.stats["kinds"]["email"]
    first = first_sms(stack, registry.district_mobiles[district], answer["verification_code"], sent)
    return {
        "issue": issue["number"],
        "recipients": recipients,
        "editions": editions,
        "items": 1 + len(regions),
        "sendgrid_requests": email["requests"],
        "request_bound": editions + recipients // 1000,
        "run_due_s": round(run_due_s, 2),
        "to_last_request_s": rounded(
            None if email["last_request_at"] is None else email["last_request_at"] - started
        ),
        "alert_first_sms_s": rounded(None if first is None else first - sent),
        "alert_during_digest": bool(first and email["last_request_at"] and email["last_request_at"] > first),
        "complete": wait.complete,
    }
