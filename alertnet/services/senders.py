"""Authorized senders: who a bearer token belongs to, and creating a sender (its token shown once)."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from alertnet.domain.senders import Sender, SenderRole, new_token, token_hash, validate_sender_name
from alertnet.services.errors import BadRequest
from alertnet.store.audit import AuditLog
from alertnet.store.registry import SenderStore


@dataclass(frozen=True)
class NewSender:
    sender: Sender
    token: str  # shown once; only its hash is kept


class SenderService:
    def __init__(self, senders: SenderStore, audit: AuditLog) -> None:
        self.senders = senders
        self.audit = audit

    async def authenticate(self, token: str) -> Sender | None:
        """The active sender holding this bearer token, or None."""
        sender = await self.senders.by_token_hash(token_hash(token))
        return sender if sender and sender.active else None

    async def add(
        self, name: str, role: SenderRole, *, actor: str = "cli", email: str = "", official: str = ""
    ) -> NewSender:
        """Create (or replace, revoking the old token) a sender. Raises BadRequest for a bad name, email
        address or registry id (`official`: their own entry, where the hub pages them)."""
        official = official.strip()
        if official and (len(official) > 64 or not official.isprintable() or " " in official):
            raise BadRequest("official: a registry id (no spaces, at most 64 characters)")
        problem = validate_sender_name(name)
        if problem:
            raise BadRequest(f"name: {problem}")
        if email:
            try:
                email = validate_email(email, check_deliverability=False).normalized
            except EmailNotValidError as error:
                raise BadRequest(f"email: not a valid email address: {error}") from None
        token = new_token()
        sender = await self.senders.add(name, role, token_hash(token), email=email, official=official)
        await self.audit.record(
            actor=actor,
            action="sender_add",
            outcome="accepted",
            sender=name,
            role=role.value,
            official=official,
        )
        return NewSender(sender, token)

    async def refused(self, client: str, method: str, path: str, reason: str) -> None:
        """Audit a request that tried to send or change something without valid credentials (in the
        refusals' own capped, rate-limited stream: anyone can make these)."""
        await self.audit.record_refusal(client=client, action=f"{method} {path}", reason=reason)
