"""What the pipeline carries: a message of some kind, already rendered for each channel.

An alert, an update, a cancellation, an all-clear, a weekly digest or a cyber bulletin all travel as a
`Message`: its kind, its priority (which queue), whether it may be acknowledged or escalated, and its
content per channel. Per-recipient parts (an acknowledgement link, an unsubscribe link) are left in the
content as tags (`ACK_LINK_TAG`) and filled in at send time, one recipient at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from alertnet.domain.tlp import Marking


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NOTICE = "notice"  # cyber bulletins sent at once: below every alert, above the weekly digest
    BULK = "bulk"


class MessageKind(StrEnum):
    ALERT = "alert"
    UPDATE = "update"
    CANCEL = "cancel"
    ALL_CLEAR = "all_clear"
    DIGEST = "digest"
    BULLETIN = "bulletin"


ACK_LINK_TAG = "-ack_link-"
"""Stands for each recipient's own acknowledgement link in an email's shared bodies."""
UNSUBSCRIBE_LINK_TAG = "-unsubscribe_link-"
"""Stands for each recipient's own unsubscribe link (a message sent to a mailing list)."""
READ_LINK_TAG = "-read_link-"
"""Stands for each recipient's own signed, expiring link to a cyber bulletin (in email and SMS alike)."""


@dataclass(frozen=True)
class VoiceScript:
    """What a call says: the passes spoken in turn, the keypress prompt, and the closing lines."""

    passes: tuple[str, ...]
    ack_prompt: str = ""  # said after the passes while listening for one key; "" asks for no key
    closing_after_prompt: str = "Goodbye."  # said when the prompt got no key
    closing: str = "Goodbye."  # said at the end of a call that asked for no key


@dataclass(frozen=True)
class EmailContent:
    """One email for every recipient: per-recipient parts are tags (`ACK_LINK_TAG`) in the bodies."""

    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class Content:
    """A message rendered for each channel it may go out on (None: not on that channel)."""

    sms: str | None = None
    voice: VoiceScript | None = None
    email: EmailContent | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sms": self.sms,
            "voice": None
            if self.voice is None
            else {
                "passes": list(self.voice.passes),
                "ack_prompt": self.voice.ack_prompt,
                "closing_after_prompt": self.voice.closing_after_prompt,
                "closing": self.voice.closing,
            },
            "email": None
            if self.email is None
            else {"subject": self.email.subject, "html": self.email.html, "text": self.email.text},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Content:
        voice, email = data.get("voice"), data.get("email")
        return cls(
            sms=data.get("sms"),
            voice=None
            if voice is None
            else VoiceScript(
                passes=tuple(voice["passes"]),
                ack_prompt=voice.get("ack_prompt", ""),
                closing_after_prompt=voice.get("closing_after_prompt", "Goodbye."),
                closing=voice.get("closing", "Goodbye."),
            ),
            email=None if email is None else EmailContent(email["subject"], email["html"], email["text"]),
        )


@dataclass(frozen=True)
class Message:
    """One message on its way out: the unit the fan-out records, batches and sends.

    ``created`` and ``expires`` are unix seconds; nothing of an expired message is worth delivering late
    (SMS validity is bounded by it). ``acknowledgeable`` gives each recipient an acknowledgement link;
    ``escalatable`` lets escalation timers send it again to whoever has not acknowledged.
    """

    id: str
    kind: MessageKind
    priority: Priority
    acknowledgeable: bool
    escalatable: bool
    content: Content
    created: float
    expires: float | None = None
    # The mailing list it goes to ("digest"): each recipient gets their own unsubscribe link and the
    # RFC 8058 List-Unsubscribe headers. Empty for alerts, which nobody unsubscribes from.
    mailing_list: str = ""
    # A cyber bulletin's TLP markings (the bulletin's, and any stricter one of an indicator it shows):
    # the worker refuses, just before sending, every delivery whose recipient one of them does not allow,
    # whatever asked for it. Empty for everything else.
    markings: tuple[Marking, ...] = ()
    # The bulletin a message carries (its personal read links name it).
    bulletin_id: str = ""

    @property
    def critical(self) -> bool:
        return self.priority is Priority.CRITICAL

    def with_kind(self, kind: MessageKind) -> Message:
        return replace(self, kind=kind)

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "kind": self.kind.value,
                "priority": self.priority.value,
                "ack": self.acknowledgeable,
                "escalate": self.escalatable,
                "content": self.content.to_dict(),
                "created": self.created,
                "expires": self.expires,
                **({"list": self.mailing_list} if self.mailing_list else {}),
                **({"markings": [m.to_dict() for m in self.markings]} if self.markings else {}),
                **({"bulletin": self.bulletin_id} if self.bulletin_id else {}),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Message:
        data = json.loads(raw)
        return cls(
            id=data["id"],
            kind=MessageKind(data["kind"]),
            priority=Priority(data["priority"]),
            acknowledgeable=bool(data["ack"]),
            escalatable=bool(data["escalate"]),
            content=Content.from_dict(data["content"]),
            created=float(data["created"]),
            expires=None if data.get("expires") is None else float(data["expires"]),
            mailing_list=str(data.get("list", "")),
            markings=tuple(Marking.from_dict(m) for m in data.get("markings", ())),
            bulletin_id=str(data.get("bulletin", "")),
        )
