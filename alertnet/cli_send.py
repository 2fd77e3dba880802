"""`alertnet send`: post an alert through the API (as any script would) and follow it until settled."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from alertnet.settings import Settings

POST_RETRY_PAUSES = (1.0, 2.0, 4.0)  # then a last try
AUDIENCE_FLAGS = {
    "region": "regions",
    "county": "counties",
    "district": "districts",
    "school": "schools",
    "role": "roles",
}


def add_send_parser(sub: Any) -> None:
    p = sub.add_parser("send", help="post an alert through the API and follow it until settled")
    p.add_argument("--api", default=None, help="API base URL (default from settings)")
    p.add_argument(
        "--token", default=os.environ.get("ALERTNET_TOKEN"), help="bearer token (or ALERTNET_TOKEN)"
    )
    p.add_argument("--status", default="Actual", choices=["Actual", "Exercise", "Test"])
    p.add_argument("--msg-type", default="Alert", choices=["Alert", "Update", "Cancel"])
    p.add_argument("--references", action="append", default=[])
    p.add_argument("--severity", default="Extreme")
    p.add_argument("--urgency", default="Immediate")
    p.add_argument("--certainty", default="Observed")
    p.add_argument("--event", required=True)
    p.add_argument("--headline", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--instruction", default="")
    p.add_argument("--statewide", action="store_true")
    for flag, key in AUDIENCE_FLAGS.items():
        p.add_argument(f"--{flag}", action="append", default=[], dest=key, help=f"add to audience.{key}")
    p.add_argument("--channels", default="sms,voice,email")
    p.add_argument("--no-wait", action="store_true")
    p.add_argument("--timeout", type=float, default=600.0)
    p.set_defaults(func=cmd_send)


def _http(
    method: str, url: str, token: str | None, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def alert_from_args(args: argparse.Namespace) -> dict[str, Any]:
    audience: dict[str, Any] = {}
    if args.statewide:
        audience["statewide"] = True
    for key in AUDIENCE_FLAGS.values():
        if getattr(args, key):
            audience[key] = getattr(args, key)
    body: dict[str, Any] = {
        "status": args.status,
        "msgType": args.msg_type,
        "severity": args.severity,
        "urgency": args.urgency,
        "certainty": args.certainty,
        "event": args.event,
        "headline": args.headline,
        "audience": audience,
        "channels": [c.strip() for c in args.channels.split(",") if c.strip()],
    }
    for key in ("description", "instruction"):
        if getattr(args, key):
            body[key] = getattr(args, key)
    if args.references:
        body["references"] = args.references
    return body


def post_once(url: str, token: str | None, body: dict[str, Any]) -> tuple[int, Any]:
    """POST the alert with an Idempotency-Key, and again with the same key when the answer was lost (a
    timeout, a dropped connection) or the first try is still being sent (409): one alert at most."""
    key = {"Idempotency-Key": str(uuid.uuid4())}
    for pause in POST_RETRY_PAUSES:
        try:
            status, answer = _http("POST", url, token, body, key)
        except OSError as error:  # urllib's URLError is one
            print(f"no answer ({error}); trying again with the same Idempotency-Key", file=sys.stderr)
        else:
            in_flight = status == 409 and "Idempotency-Key" in str((answer or {}).get("message", ""))
            if not in_flight:
                return status, answer
        time.sleep(pause)
    return _http("POST", url, token, body, key)


def cmd_send(settings: Settings, args: argparse.Namespace) -> int:
    api = (args.api or settings.api.base_url).rstrip("/")
    status, answer = post_once(f"{api}/v1/alerts", args.token, alert_from_args(args))
    if status == 200 and answer.get("duplicate"):
        print(f"alert {answer['id']} was sent by an earlier try of this command (its answer was lost)")
        return 0
    if status != 202:
        print(
            f"refused ({status}): {answer.get('message') if isinstance(answer, dict) else answer}",
            file=sys.stderr,
        )
        for error in (answer or {}).get("errors", []):
            print(f"  {error['field']}: {error['reason']}", file=sys.stderr)
        return 1
    alert_id = answer["id"]
    if answer.get("state") == "pending_approval":
        print(
            f"alert {alert_id} held: it goes to {answer['officials']} officials, so a second director must "
            f"approve it (POST {api}/v1/alerts/{alert_id}/approve, or the console)"
        )
        return 0
    print(
        f"alert {alert_id} accepted; verification code {answer['verification_code']}; "
        f"recipients {answer['recipients']}"
    )
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while True:
        _, progress = _http("GET", f"{api}/v1/alerts/{alert_id}", args.token)
        line = "  ".join(
            f"{channel}: " + ", ".join(f"{state} {n}" for state, n in sorted(info["states"].items()))
            for channel, info in progress["channels"].items()
        )
        print(f"\r{line}", end="", flush=True)
        if progress["settled"]:
            break
        if time.monotonic() > deadline:
            print("\nnot settled before --timeout", file=sys.stderr)
            return 1
        time.sleep(0.5)
    _, verify = _http("GET", f"{api}/v1/alerts/{alert_id}/verify", None)
    print(f"\nsettled; signature valid: {verify['valid']} (key {verify['key_id']})")
    return 0
