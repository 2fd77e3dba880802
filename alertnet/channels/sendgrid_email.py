"""Email through SendGrid v3 Mail Send (the real SDK): up to 1,000 personalizations per request."""

from __future__ import annotations

import asyncio
import urllib.error
from collections.abc import AsyncGenerator
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from alertnet.alerts import Channel
from alertnet.channels.base import Outcome, OutgoingAlert, ProviderRecord, SendResult
from alertnet.contacts import Official
from alertnet.receipts import Receipt
from alertnet.render import email_shared_bodies, email_subject
from alertnet.settings import Settings

ACK_TAG = "-ack_link-"
REQUEST_TIMEOUT = 30.0


def split_requests(recipients: list[Official], size: int) -> list[list[Official]]:
    """Group recipients into requests of at most `size`, no address twice in one request.

    Officials who share one mailbox (a district office) each get their own email, in different requests:
    SendGrid refuses a request that names an address twice.
    """
    groups: list[tuple[list[Official], set[str]]] = []
    for official in recipients:
        address = (official.email or "").lower()
        for members, seen in groups:
            if len(members) < size and address not in seen:
                members.append(official)
                seen.add(address)
                break
        else:
            groups.append(([official], {address}))
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

    def address(self, official: Official) -> str | None:
        return official.email

    def _request_body(
        self, outgoing: OutgoingAlert, group: list[Official], html: str, text: str
    ) -> dict[str, Any]:
        personalizations = []
        for official in group:
            personalizations.append(
                {
                    "to": [{"email": official.email, "name": official.name}],
                    "substitutions": {ACK_TAG: outgoing.ack_link(official.id)},
                    "custom_args": {"delivery_id": outgoing.delivery_id(official.id)},
                }
            )
        return {
            "personalizations": personalizations,
            "from": {"email": self.from_email, "name": self.from_name},
            "subject": email_subject(outgoing.alert),
            "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": html}],
            "custom_args": {"alert_id": outgoing.alert.id},
        }

    def _post(self, body: dict[str, Any]) -> str:
        response = self.client.client.mail.send.post(request_body=body, timeout=REQUEST_TIMEOUT)
        return str(response.headers.get("X-Message-Id", ""))

    async def send(
        self, outgoing: OutgoingAlert, recipients: list[Official]
    ) -> AsyncGenerator[SendResult, None]:
        html, text = email_shared_bodies(
            outgoing.alert, code=outgoing.code, link=outgoing.links.alert_page(outgoing.alert.id)
        )
        for group in split_requests(recipients, self.batch_size):
            body = self._request_body(outgoing, group, html, text)
            outcome, provider_id, reason = await asyncio.to_thread(self._send_request, body)
            for official in group:
                yield SendResult(official.id, outcome, provider_id=provider_id, reason=reason)

    async def find_accepted(
        self, outgoing: OutgoingAlert, official: Official, since: float
    ) -> ProviderRecord | None:
        """v3 Mail Send has no look-up of what it accepted (that is the paid Email Activity API): an email
        whose request timed out is sent again, the one duplicate the hub allows itself."""
        return None

    async def status(self, provider_id: str) -> Receipt | None:
        """None: SendGrid retries its Event Webhook for days, so a lost event comes again by itself."""
        return None

    def _send_request(self, body: dict[str, Any]) -> tuple[Outcome, str, str]:
        try:
            return Outcome.SENT, self._post(body), ""
        except HTTPError as error:
            detail = error.body.decode("utf-8", "replace")[:300] if isinstance(error.body, bytes) else ""
            reason = f"sendgrid {error.status_code}: {detail}"
            if error.status_code == 429 or error.status_code >= 500:
                return Outcome.RETRY, "", reason
            return Outcome.PERMANENT, "", reason
        except TimeoutError as error:
            return Outcome.AMBIGUOUS, "", f"no answer: {error.__class__.__name__}"
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError):
                return Outcome.RETRY, "", "connection refused"
            return Outcome.AMBIGUOUS, "", f"no answer: {error.reason}"

    async def close(self) -> None:
        return None
