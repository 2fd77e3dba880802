"""What every channel adapter takes and gives back.

An adapter receives what to say (the message's content for its channel) and to whom (envelopes), never
an alert: it knows its provider, not what happened. Pacing comes in as a `SenderPool`, so an adapter
does no I/O of its own besides the provider's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from alertnet.domain.messages import Channel, Content
from alertnet.domain.receipts import Receipt


class Outcome(StrEnum):
    SENT = "sent"  # the provider accepted it and gave an id
    RETRY = "retry"  # certainly not accepted (429, refused connection): safe to send again
    PERMANENT = "permanent"  # the provider refused it for good (bad number, bad address)
    AMBIGUOUS = "ambiguous"  # may or may not have been accepted (timeout, 5xx): look it up before resending


@dataclass(frozen=True)
class SendResult:
    official_id: str
    outcome: Outcome
    provider_id: str = ""
    reason: str = ""


class Match(StrEnum):
    """How far a message the provider holds is known to be one delivery's copy."""

    OURS = "ours"  # the provider's own record names this delivery (a webhook URL carrying its id)
    OTHER = "other"  # the provider's own record names another delivery
    CONTENT = "content"  # this delivery's content to its address: its copy, unless another delivery's
    ADDRESS = "address"  # only the address matches: it may be any delivery's to that address


@dataclass(frozen=True)
class ProviderRecord:
    """What the provider itself holds about one message: its id, if it has news its status, and how far
    it is known to be the delivery asked about."""

    provider_id: str
    receipt: Receipt | None = None
    match: Match = Match.CONTENT


@dataclass(frozen=True)
class Outgoing:
    """One message's content on its way out through one delivery slot ("sms", or "voice@2" for wave 2)."""

    message_id: str
    slot: str
    content: Content
    critical: bool = False  # paced with the longer horizon an alert may book ahead
    expires: float | None = None  # unix seconds: nothing is worth delivering after it


@dataclass(frozen=True)
class Envelope:
    """One recipient's copy: the address on this channel and the parts filled in for them alone."""

    official_id: str
    address: str
    name: str
    delivery_id: str
    personal: Mapping[str, str] = field(default_factory=dict)  # substitution tag -> value
    headers: Mapping[str, str] = field(default_factory=dict)  # email headers for this recipient alone


class SenderPool(Protocol):
    """The provider identities (numbers) to send from, handed out at their configured rate."""

    senders: tuple[str, ...]

    async def acquire(self, *, critical: bool) -> str:
        """Wait for the next free slot on some sender and return that sender."""
        ...


class ChannelAdapter(Protocol):
    channel: Channel
    # Whether `status` can ask the provider about one message (SendGrid's v3 Mail Send cannot).
    looks_up_status: bool

    def send(self, outgoing: Outgoing, envelopes: list[Envelope]) -> AsyncGenerator[SendResult, None]:
        """Send to every envelope, yielding one result per envelope as it completes."""
        ...

    async def find_accepted(
        self, outgoing: Outgoing, envelope: Envelope, since: float
    ) -> list[ProviderRecord]:
        """Every message to `envelope`'s address that the provider accepted at or after `since` (unix
        seconds) and that may be this delivery's copy, newest first, each with how far it is known to be
        (`Match`); empty if none. Asked before sending again after an attempt whose outcome was never known
        (a timeout, a 5xx, a worker or Redis that died): the provider, not our record, says whether it went
        out; the caller leaves out what the hub already knows to be another delivery's. Raises on a
        provider error: then nobody knows, and nothing is sent yet."""
        ...

    async def status(self, provider_id: str) -> Receipt | None:
        """The provider's current status of a message it accepted, as a receipt (None: nothing to add, or
        the provider cannot be asked). For a status callback that never arrived."""
        ...

    async def close(self) -> None: ...
