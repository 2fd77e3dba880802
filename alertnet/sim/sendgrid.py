"""A local SendGrid v3 Mail Send endpoint and Event Webhook poster.

Requests are validated as SendGrid validates them (sendgrid_validation); accepted mail is recorded once per
recipient and reported to the hub as "processed" / "delivered" (or "bounce" / "dropped") events, batched the
way SendGrid batches them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import time
from collections import deque
from typing import Any

from aiohttp import web

from alertnet.sim.callbacks import stop_tasks
from alertnet.sim.context import Sim, json_response
from alertnet.sim.sendgrid_validation import Error, Recipient, check_mail, mail_error

EVENT_BATCH = 500
FAULT_MESSAGES = {
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
    504: "gateway timeout",
}

Record = dict[str, Any]


def sendgrid_error(status: int, errors: list[Error]) -> web.Response:
    """SendGrid's error body: {"errors": [{"message", "field", "help"}, ...]}."""
    return json_response({"errors": errors}, status)


def _content(body: dict[str, Any], kind: str) -> str | None:
    for block in body.get("content") or []:
        if block.get("type") == kind:
            return str(block["value"])
    return None


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def render_email(record: Record) -> Record:
    """The record as `/sim/messages` shows it: substitutions applied to subject and bodies.

    Records keep the request's shared strings; rendering at read time keeps a 50,000-recipient alert from
    holding 50,000 copies of its HTML.
    """
    substitutions: dict[str, str] = record["substitutions"]
    if not substitutions:
        return record
    shown = dict(record)
    for key in ("subject", "body", "text", "html"):
        value = shown.get(key)
        if isinstance(value, str):
            for tag, replacement in substitutions.items():
                value = value.replace(tag, replacement)
            shown[key] = value
    return shown


class SendGridApi:
    """`POST /v3/mail/send` plus the Event Webhook that reports what happened to each recipient."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.expected_auth = f"Bearer {sim.sendgrid_key}"
        self.events_url = f"{sim.hub_url}/v1/webhooks/sendgrid/events"
        # (due loop time, record, event name); appended in due order since every delay is the same.
        self.pending: deque[tuple[float, Record, str]] = deque()
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def routes(self) -> list[web.RouteDef]:
        """The Mail Send route."""
        return [web.post("/v3/mail/send", self.send)]

    async def start(self) -> None:
        """Start the event flusher (inside the serving loop)."""
        self._task = asyncio.create_task(self._flush_loop())

    async def close(self) -> None:
        """Stop the event flusher; unflushed events are dropped."""
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None

    async def send(self, request: web.Request) -> web.Response:
        """POST /v3/mail/send: 202 with X-Message-Id, or SendGrid's 400/401/429/5xx bodies."""
        now = time.time()
        response = await self._send(request, now)
        self.sim.store.request("email", response.status, now)
        return response

    async def _send(self, request: web.Request, now: float) -> web.Response:
        header = request.headers.get("Authorization", "")
        if not header:
            return sendgrid_error(401, [{"field": None, "message": "authorization required", "help": None}])
        if header != self.expected_auth:
            return sendgrid_error(
                401, [mail_error("The provided authorization grant is invalid, expired, or revoked", None)]
            )
        if self.sim.faults.any_request_fault:
            status = await self.sim.injected_fault(request)
            if status:
                return sendgrid_error(status, [mail_error(FAULT_MESSAGES[status], None)])
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return sendgrid_error(400, [mail_error("Bad Request", None)])
        errors, recipients = check_mail(body)
        if errors:
            return sendgrid_error(400, errors)
        settings = body.get("mail_settings")
        sandbox = settings.get("sandbox_mode") if isinstance(settings, dict) else None
        if isinstance(sandbox, dict) and sandbox.get("enable"):
            return web.Response(status=200)  # sandbox mode: validated, never sent
        message_id = secrets.token_urlsafe(16)
        self._accept(body, recipients, message_id, now)
        if self.sim.faults.any_request_fault:
            status = await self.sim.accepted_fault(request)
            if status:  # accepted all the same: it goes out
                return sendgrid_error(status, [mail_error(FAULT_MESSAGES[status], None)])
        return web.Response(status=202, headers={"X-Message-Id": message_id})

    def _accept(
        self,
        body: dict[str, Any],
        recipients: list[Recipient],
        message_id: str,
        now: float,
    ) -> None:
        """Record one email per recipient and queue its events."""
        store = self.sim.store
        faults = self.sim.faults
        personalizations: list[dict[str, Any]] = body["personalizations"]
        sender = body["from"]
        text = _content(body, "text/plain")
        html = _content(body, "text/html")
        shared_args = _string_map(body.get("custom_args"))
        categories = body.get("categories")
        smtp_id = f"<{message_id}@ismtpd-sim>"
        due = asyncio.get_running_loop().time() + self.sim.callback_delay
        per_personalization: dict[int, tuple[dict[str, str], dict[str, str]]] = {}
        finals: list[tuple[float, Record, str]] = []
        for n, (i, role, entry) in enumerate(recipients):
            personalization = personalizations[i]
            if i not in per_personalization:
                per_personalization[i] = (
                    _string_map(personalization.get("substitutions")),
                    {**shared_args, **_string_map(personalization.get("custom_args"))},
                )
            substitutions, custom_args = per_personalization[i]
            address = str(entry["email"])
            record: Record = {
                "kind": "email",
                "sid": message_id,
                "message_id": message_id,
                "sg_message_id": f"{message_id}.sim-{i}-{n}",
                "smtp_id": smtp_id,
                "to": address,
                "to_name": entry.get("name"),
                "role": role,
                "from": sender.get("email"),
                "from_name": sender.get("name"),
                "subject": personalization.get("subject") or body.get("subject"),
                "body": text,
                "text": text,
                "html": html,
                "template_id": body.get("template_id"),
                "status": "accepted",
                "received_at": now,
                "personalization": i,
                "substitutions": substitutions,
                "dynamic_template_data": personalization.get("dynamic_template_data"),
                "custom_args": custom_args,
                "categories": categories,
                "params": personalization,
            }
            store.add("email", record)
            outcome = faults.email_outcome(address.lower())
            if outcome == "dropped":
                finals.append((due, record, "dropped"))
            elif outcome == "spamreport":
                self.pending.append((due, record, "processed"))
                finals.extend([(due, record, "delivered"), (due, record, "spamreport")])
            else:
                self.pending.append((due, record, "processed"))
                finals.append((due, record, outcome))
        self.pending.extend(finals)  # every "processed" of a request goes out before its final events
        store.kinds["email"].recipients += len(recipients)
        self.wake.set()

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending:
                self.wake.clear()
                await self.wake.wait()
                continue
            wait = self.pending[0][0] - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            now = loop.time()
            stamp = int(time.time())
            batch: list[dict[str, Any]] = []
            while self.pending and self.pending[0][0] <= now and len(batch) < EVENT_BATCH:
                _, record, event = self.pending.popleft()
                batch.append(self._event(record, event, stamp))
            if batch:
                body = json.dumps(batch, separators=(",", ":")).encode()
                self.sim.dispatcher.submit(0, functools.partial(self._post, body, len(batch)))

    async def _post(self, body: bytes, count: int) -> None:
        reply = await self.sim.dispatcher.send_json(self.events_url, body)
        if reply.ok:
            self.sim.store.callbacks["email_events"] += count

    @staticmethod
    def _event(record: Record, event: str, stamp: int) -> dict[str, Any]:
        """One Event Webhook object: custom_args flattened in, as SendGrid does."""
        data: dict[str, Any] = dict(record["custom_args"])
        data["email"] = record["to"]
        data["timestamp"] = stamp
        data["smtp-id"] = record["smtp_id"]
        data["event"] = event
        data["sg_event_id"] = secrets.token_urlsafe(16)
        data["sg_message_id"] = record["sg_message_id"]
        if record["categories"]:
            data["category"] = record["categories"]
        if event == "delivered":
            data["response"] = "250 OK"
            data["ip"] = "127.0.0.1"
            data["tls"] = 1
        elif event == "bounce":
            data["reason"] = "550 5.1.1 The email account that you tried to reach does not exist."
            data["status"] = "5.1.1"
            data["type"] = "bounce"
            data["bounce_classification"] = "Invalid Address"
        elif event == "blocked":
            data["event"] = "bounce"
            data["type"] = "blocked"
            data["reason"] = "550 5.7.1 Message blocked by the receiving server's policy."
            data["status"] = "5.7.1"
        elif event == "dropped":
            data["reason"] = "Bounced Address"
            data["status"] = "5.0.0"
        record["status"] = event
        return data
