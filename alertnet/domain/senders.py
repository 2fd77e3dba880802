"""Authorized senders: roles, what each role may send, and bearer tokens (only a hash is kept)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum


class SenderRole(StrEnum):
    DIRECTOR = "director"
    CYBER_PUBLISHER = "cyber_publisher"
    EDITOR = "editor"
    VIEWER = "viewer"


class SendKind(StrEnum):
    """The kinds of thing a sender can ask the hub to send."""

    ALERT = "alert"
    CYBER_BULLETIN = "cyber_bulletin"
    DIGEST_ITEM = "digest_item"


# The Director of Public Safety (and delegates) alone send alerts; the others have one narrow lane each.
PERMISSIONS: dict[SenderRole, frozenset[SendKind]] = {
    SenderRole.DIRECTOR: frozenset(SendKind),
    SenderRole.CYBER_PUBLISHER: frozenset({SendKind.CYBER_BULLETIN}),
    SenderRole.EDITOR: frozenset({SendKind.DIGEST_ITEM}),
    SenderRole.VIEWER: frozenset(),
}

# The audit trail says who sent what to whom: the Director's office and read-only overseers see it.
AUDIT_READERS = frozenset({SenderRole.DIRECTOR, SenderRole.VIEWER})

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
TOKEN_PREFIX = "an_"


@dataclass(frozen=True)
class Sender:
    name: str
    role: SenderRole
    created: str
    active: bool = True
    email: str = ""  # where the hub tells the sender things (a held digest); optional
    official: str = ""  # their own registry entry: where the hub pages them (an alert held for approval)


def may_send(role: SenderRole, kind: SendKind) -> bool:
    return kind in PERMISSIONS[role]


def may_read_audit(role: SenderRole) -> bool:
    return role in AUDIT_READERS


def allowed_kinds(role: SenderRole) -> list[str]:
    """What this role may send, for the 403 message."""
    return sorted(kind.value for kind in PERMISSIONS[role])


def new_token() -> str:
    """A fresh bearer token, shown once to the operator."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored in place of the token: a SHA-256 hex digest (tokens are 256-bit random, so no salt)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def validate_sender_name(name: str) -> str | None:
    """The reason a name is unusable, or None."""
    if not NAME_PATTERN.match(name):
        return "must be 1-64 lowercase letters, digits, '_', '.' or '-', starting with a letter or digit"
    return None
