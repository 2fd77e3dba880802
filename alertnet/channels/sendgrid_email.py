"""Email through SendGrid v3 Mail Send (the real SDK): up to 1,000 personalizations per request."""

from __future__ import annotations

import asyncio
import time
import urllib.error
from collections.abc import AsyncGenerator
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from alertnet.channels.base import Envelope, Outcome, Outgoing, ProviderRecord, SendResult
from alertnet.channels.request_stats import REQUESTS
from alertnet.domain.messages import Channel, Content, EmailContent
from alertnet.domain.receipts import Receipt
from alertnet.settings import Settings

REQUEST_TIMEOUT = 30.0


def split_requests(envelopes: list[Envelope], size: int) -> list[list[Envelope]]:
    """Group envelopes into requests of at most `size`, no address twice in one request.

    Officials who share one mailbox (a district office) each get their own email, in different requests:
    SendGrid refuses a request that names an address twice.
    """
    groups: list[tuple[list[Envelope], set[str]]] = []
    for envelope in envelopes:
        address = envelope.address.lower()
        for members, seen in groups:
            if len(members) < size and address not in seen:
                members.append(envelope)
                seen.add(address)
                break
        else:
            groups.append(([envelope], {address}))
    return [members for members, _ in groups]


class SendGridEmail:
    channel = Channel.EMAIL
    looks_up_status = False

    def __init__(self, client: SendGridAPIClient, settings: Settings) -> None:
        self.client = client
        self.from_email = settings.sendgrid.from_email
        self.from_name = settings.sendgrid.from_name
        self.batch_size = min(1000, settings.sendgrid.batch_size)

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridEmail:
        host = settings.sim.base_url if settings.sendgrid_simulated else "https://api.sendgrid.com"
        return cls(SendGridAPIClient(settings.sendgrid_api_key, host=host), settings)

    def _request_body(self, outgoing: Outgoing, group: list[Envelope]) -> dict[str, Any]:
        email = outgoing.content.email
        if email is None:
            raise ValueError(f"message {outgoing.message_id} has no email content")
        personalizations = []
        for envelope in group:
            personalization: dict[str, Any] = {"to": [{"email": envelope.address, "name": envelope.name}]}
            if envelope.delivery_id:  # a test send is no delivery: its events have nothing to move
                personalization["custom_args"] = {"delivery_id": envelope.delivery_id}
            if envelope.personal:
                personalization["substitutions"] = dict(envelope.personal)
            if envelope.headers:
                personalization["headers"] = dict(envelope.headers)
            personalizations.append(personalization)
        return {
            "personalizations": personalizations,
            "from": {"email": self.from_email, "name": self.from_name},
            "subject": email.subject,
            "content": [
                {"type": "text/plain", "value": email.text},
                {"type": "text/html", "value": email.html},
            ],
            "custom_args": {"alert_id": outgoing.message_id},
        }

    def _post(self, body: dict[str, Any]) -> str:
        response = self.client.client.mail.send.post(request_body=body, timeout=REQUEST_TIMEOUT)
        return str(response.headers.get("X-Message-Id", ""))

    async def send(self, outgoing: Outgoing, envelopes: list[Envelope]) -> AsyncGenerator[SendResult, None]:
        for group in split_requests(envelopes, self.batch_size):
            body = self._request_body(outgoing, group)
            outcome, provider_id, reason = await asyncio.to_thread(self._send_request, body)
            for envelope in group:
                yield SendResult(envelope.official_id, outcome, provider_id=provider_id, reason=reason)

    async def find_accepted(
        self, outgoing: Outgoing, envelope: Envelope, since: float
    ) -> list[ProviderRecord]:
        """v3 Mail Send has no look-up of what it accepted (that is the paid Email Activity API): an email
        whose request timed out is sent again, the one duplicate the hub allows itself."""
        return []

    async def status(self, provider_id: str) -> Receipt | None:
        """None: SendGrid retries its Event Webhook for days, so a lost event comes again by itself."""
        return None

    def _send_request(self, body: dict[str, Any]) -> tuple[Outcome, str, str]:
        """(outcome, X-Message-Id, reason) of one Mail Send request; its time and failure are counted."""
        started = time.perf_counter()
        outcome, provider_id, reason, status = self._attempt(body)
        REQUESTS.note("sendgrid", "email", time.perf_counter() - started, status)
        return outcome, provider_id, reason

    def _attempt(self, body: dict[str, Any]) -> tuple[Outcome, str, str, str]:
        try:
            return Outcome.SENT, self._post(body), "", ""
        except HTTPError as error:
            detail = error.body.decode("utf-8", "replace")[:300] if isinstance(error.body, bytes) else ""
            reason = f"sendgrid {error.status_code}: {detail}"
            if error.status_code == 429 or error.status_code >= 500:
                return Outcome.RETRY, "", reason, str(error.status_code)
            return Outcome.PERMANENT, "", reason, str(error.status_code)
        except TimeoutError as error:
            return Outcome.AMBIGUOUS, "", f"no answer: {error.__class__.__name__}", "timeout"
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError):
                return Outcome.RETRY, "", "connection refused", "connection"
            return Outcome.AMBIGUOUS, "", f"no answer: {error.reason}", "timeout"

    async def send_simple(self, subject: str, html: str, text: str, addresses: list[str]) -> bool:
        """One email to a few addresses outside the pipeline (a test send, a notice to editors): no
        deliveries, so nothing is counted or receipted. True if SendGrid accepted it."""
        outgoing = Outgoing("notice", "email", Content(email=EmailContent(subject, html, text)))
        envelopes = [Envelope("", address, "", "") for address in addresses]
        results = [r async for r in self.send(outgoing, envelopes)]
        return bool(results) and all(r.outcome is Outcome.SENT for r in results)

    async def close(self) -> None:
        return None
