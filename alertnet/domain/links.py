"""Every URL the hub puts into a message or hands to a provider, built from one base URL."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Links:
    base_url: str

    def alert_page(self, alert_id: str) -> str:
        """The alert's own page: the whole alert, its verification, and (for officials) acknowledgement."""
        return f"{self.base_url}/a/{alert_id}"

    def ack_page(self, token: str) -> str:
        return f"{self.base_url}/ack/{token}"

    def unsubscribe(self, token: str) -> str:
        """An official's own unsubscribe link for one mailing list (RFC 8058 one-click POST, or a page)."""
        return f"{self.base_url}/u/{token}"

    def bulletin(self, token: str) -> str:
        """An official's own signed, expiring link to a cyber bulletin."""
        return f"{self.base_url}/b/{token}"

    def digest_issue(self, number: int) -> str:
        """The public archive page of a sent issue of the weekly update."""
        return f"{self.base_url}/digest/{number}"

    def sms_status(self, delivery_id: str) -> str:
        return f"{self.base_url}/v1/webhooks/twilio/status?d={quote(delivery_id)}"

    def call_status(self, delivery_id: str) -> str:
        return f"{self.base_url}/v1/webhooks/twilio/call-status?d={quote(delivery_id)}"

    def call_twiml(self, delivery_id: str) -> str:
        return f"{self.base_url}/v1/webhooks/twilio/voice?d={quote(delivery_id)}"

    def call_gather(self, delivery_id: str) -> str:
        return f"{self.base_url}/v1/webhooks/twilio/gather?d={quote(delivery_id)}"

    def inbound_sms(self) -> str:
        return f"{self.base_url}/v1/webhooks/twilio/sms"

    def sendgrid_events(self) -> str:
        return f"{self.base_url}/v1/webhooks/sendgrid/events"
