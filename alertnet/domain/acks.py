"""Acknowledgements (pure): what an SMS reply means, signed ack-link tokens, and who has answered."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum

from alertnet.domain.contacts import Official


class AckChannel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    WEB = "web"
    OPERATOR = "operator"  # recorded by an operator, e.g. after a phone call


@dataclass(frozen=True)
class Ack:
    alert_id: str
    official_id: str
    at: float
    channel: AckChannel
    recorded_by: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Ack:
        data = json.loads(raw)
        return cls(
            data["alert_id"],
            data["official_id"],
            float(data["at"]),
            AckChannel(data["channel"]),
            data.get("recorded_by", ""),
        )


class ReplyKind(StrEnum):
    ACK = "ack"
    STOP = "stop"
    START = "start"
    HELP = "help"
    OTHER = "other"


ACK_WORDS = frozenset({"1", "ACK", "YES", "OK", "Y", "ACKNOWLEDGE", "ACKNOWLEDGED"})
# The carrier-mandated keywords (CTIA): opt-out, opt-in and help.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "UNSTOP", "YES START", "OPTIN"})
HELP_WORDS = frozenset({"HELP", "INFO"})
CODE = re.compile(r"^[0-9A-Z]{3}-?[0-9A-Z]{3}$")
B64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    code: str = ""  # a verification code naming the alert, when the reply carried one


def read_reply(body: str) -> Reply:
    """What an inbound SMS means. Punctuation and case are ignored; a verification code is an ack."""
    text = re.sub(r"[^\w\s-]", "", body).strip().upper()
    words = text.split()
    if not words:
        return Reply(ReplyKind.OTHER)
    if text in START_WORDS:
        return Reply(ReplyKind.START)
    first = words[0]
    if first in STOP_WORDS and len(words) <= 2:
        return Reply(ReplyKind.STOP)
    if first in HELP_WORDS and len(words) <= 2:
        return Reply(ReplyKind.HELP)
    for word in words:
        mixed = any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
        if CODE.match(word) and ("-" in word or mixed):
            code = word.replace("-", "")
            return Reply(ReplyKind.ACK, code=f"{code[:3]}-{code[3:]}")
    if first in ACK_WORDS:
        return Reply(ReplyKind.ACK)
    return Reply(ReplyKind.OTHER)


class TokenError(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict: any character outside the URL-safe alphabet (or padding of our own) is an error, not
    skipped, so a token with characters added is not the same token."""
    if not B64URL.fullmatch(text):
        raise ValueError("not unpadded URL-safe base64")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def make_ack_token(secret: bytes, alert_id: str, official_id: str, expires: float) -> str:
    """A per-recipient, expiring, HMAC-SHA256-signed token for the email ack link."""
    payload = _b64(json.dumps([alert_id, official_id, int(expires)], separators=(",", ":")).encode())
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:18]
    return f"{payload}.{_b64(mac)}"


def read_ack_token(secret: bytes, token: str, *, now: float) -> tuple[str, str]:
    """(alert id, official id) from a valid token; raises TokenError saying why not."""
    payload, _, mac = token.partition(".")
    try:
        expected = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:18]
        if not mac or not hmac.compare_digest(expected, _unb64(mac)):
            raise TokenError("the link is not valid")
        alert_id, official_id, expires = json.loads(_unb64(payload))
    except (ValueError, TypeError) as error:
        raise TokenError("the link is not valid") from error
    if now > float(expires):
        raise TokenError("the link has expired")
    return str(alert_id), str(official_id)


@dataclass(frozen=True)
class AckReport:
    acknowledged: list[tuple[Official, Ack]]
    pending: list[Official]
    by_district: dict[str, dict[str, float]]
    by_role: dict[str, dict[str, float]]


def ack_report(recipients: Iterable[Official], acks: Mapping[str, Ack]) -> AckReport:
    """Who answered and who has not, with ack rates per district and per role."""
    acknowledged: list[tuple[Official, Ack]] = []
    pending: list[Official] = []
    tallies: dict[str, dict[str, list[int]]] = {
        "district": defaultdict(lambda: [0, 0]),
        "role": defaultdict(lambda: [0, 0]),
    }
    for official in sorted(recipients, key=lambda o: o.id):
        ack = acks.get(official.id)
        if ack:
            acknowledged.append((official, ack))
        else:
            pending.append(official)
        for dimension, key in (("district", official.district), ("role", official.role.value)):
            tally = tallies[dimension][key]
            tally[0] += 1 if ack else 0
            tally[1] += 1

    def rates(dimension: str) -> dict[str, dict[str, float]]:
        return {
            key: {"acknowledged": a, "recipients": n, "rate": round(a / n, 4) if n else 0.0}
            for key, (a, n) in sorted(tallies[dimension].items())
        }

    return AckReport(acknowledged, pending, rates("district"), rates("role"))
