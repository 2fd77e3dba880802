"""Mailing lists an official may leave (the weekly digest; later cyber bulletins), and addresses that fail.

Leaving a list never stops alerts. An unsubscribe link carries a signed, per-recipient token (RFC 8058
one-click: a POST of ``List-Unsubscribe=One-Click`` to it is enough). Addresses that bounce or complain
are suppressed for the lists by the thresholds here; alerts still try them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from enum import StrEnum


class MailingList(StrEnum):
    DIGEST = "digest"
    CYBER = "cyber"  # cyber threat bulletins


ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
MAC_BYTES = 18


def unsubscribe_headers(link: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers: mail clients show an unsubscribe button that POSTs one click."""
    return {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": ONE_CLICK_BODY}


class TokenError(ValueError):
    """The link's token is not one the hub made."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not B64URL.fullmatch(text):
        raise ValueError("not unpadded URL-safe base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> bytes:
    # A key of its own, derived from the hub's link secret: an ack token is never an unsubscribe token.
    key = hmac.new(secret, b"alertnet unsubscribe", hashlib.sha256).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).digest()[:MAC_BYTES]


def make_list_token(secret: bytes, mailing_list: MailingList, official_id: str) -> str:
    """The official's own unsubscribe token for one list (it does not expire: old issues keep working)."""
    payload = _b64(json.dumps([mailing_list.value, official_id], separators=(",", ":")).encode())
    return f"{payload}.{_b64(_mac(secret, payload))}"


def read_list_token(secret: bytes, token: str) -> tuple[MailingList, str]:
    """(list, official id) from a valid token; raises TokenError."""
    payload, _, mac = token.partition(".")
    try:
        if not mac or not hmac.compare_digest(_mac(secret, payload), _unb64(mac)):
            raise TokenError("the link is not valid")
        name, official_id = json.loads(_unb64(payload))
        return MailingList(name), str(official_id)
    except (ValueError, TypeError) as error:
        raise TokenError("the link is not valid") from error


# --- addresses that fail ------------------------------------------------------------------------------


class ProblemKind(StrEnum):
    SPAM = "spamreport"  # the recipient marked it as spam: suppressed at once
    BOUNCE = "bounce"  # a hard bounce
    SOFT = "soft"  # blocked or deferred, counted in a row


@dataclass(frozen=True)
class ProblemThresholds:
    hard_bounces: int = 1
    soft_in_a_row: int = 3


def classify_event(event: str, bounce_type: str) -> ProblemKind | None:
    """What a SendGrid event says about its address (None: nothing wrong)."""
    event = event.lower()
    if event == "spamreport":
        return ProblemKind.SPAM
    if event == "bounce":
        return ProblemKind.SOFT if bounce_type.lower() == "blocked" else ProblemKind.BOUNCE
    if event in ("blocked", "deferred"):
        return ProblemKind.SOFT
    return None


def is_suppressed(spam: int, hard: int, soft_in_a_row: int, thresholds: ProblemThresholds) -> bool:
    return spam > 0 or hard >= thresholds.hard_bounces or soft_in_a_row >= thresholds.soft_in_a_row
