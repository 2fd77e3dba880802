"""Shared pieces of the Twilio simulator: formats, validation, SMS segment counting, error bodies."""

from __future__ import annotations

import calendar
import math
import os
import re
import time
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from alertnet.sim.context import json_response

API_VERSION = "2010-04-01"
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
SHORT_CODE = re.compile(r"[0-9]{3,6}")
ALPHA_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# GSM 03.38: the basic table (one septet each; ESC excluded) and the extension table (two septets each).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
GSM_ALL = GSM_BASIC | GSM_EXTENDED
MAX_BODY = 1600
UNDELIVERED_CODE = 30003
UNDELIVERED_MESSAGE = "Unreachable destination handset"

Params = dict[str, str]


def count_segments(body: str) -> int:
    """How many SMS segments Twilio bills `body` as: GSM-7 160/153 septets, else UCS-2 70/67 code units.

    Extension characters (such as `€` or `{`) take two septets and are never split across segments; neither
    are UTF-16 surrogate pairs (emoji).
    """
    if not body:
        return 1
    chars = set(body)
    if chars <= GSM_BASIC:
        n = len(body)
        return 1 if n <= 160 else -(-n // 153)
    if chars <= GSM_ALL:
        return _pack([2 if c in GSM_EXTENDED else 1 for c in body], single=160, multi=153)
    return _pack([2 if ord(c) > 0xFFFF else 1 for c in body], single=70, multi=67)


def _pack(widths: list[int], *, single: int, multi: int) -> int:
    if sum(widths) <= single:
        return 1
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments += 1
            used = 0
        used += width
    return segments


_date_cache: list[Any] = [-1, ""]


def rfc2822(ts: float) -> str:
    """Twilio's date format ("Tue, 05 Mar 2024 14:03:09 +0000"), cached per second."""
    second = int(ts)
    if _date_cache[0] != second:
        _date_cache[0] = second
        _date_cache[1] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(second))
    return str(_date_cache[1])


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two letters and 32 hex digits."""
    return prefix + os.urandom(16).hex()


def inbound_sms_params(account_sid: str, sid: str, sender: str, to: str, body: str) -> dict[str, str]:
    """The form Twilio posts to a number's SMS webhook when a message arrives (its real field names)."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "Body": body,
        "From": sender,
        "FromCountry": "US",
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": to,
        "ToCountry": "US",
    }


def twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Twilio's error JSON, which the SDK turns into TwilioRestException(status, code, message)."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return json_response(body, status, headers)


FAULTS: dict[int, tuple[int, str]] = {
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    503: (20503, "Service Unavailable"),
    504: (20504, "Gateway Timeout"),
}


def is_http_url(url: str) -> bool:
    return url.startswith(("http://", "https://")) and len(url) > 8


def valid_sender(value: str) -> bool:
    return bool(E164.fullmatch(value) or SHORT_CODE.fullmatch(value) or ALPHA_SENDER.fullmatch(value))


def date_filter(value: str, op: str) -> tuple[float, float] | None:
    """The [low, high) unix-time range a DateSent / StartTime filter selects; None if unparseable.

    Accepts YYYY-MM-DD and the SDK's YYYY-MM-DDTHH:MM:SSZ. ">" is on or after, "<" on or before; plain
    equality selects the whole (GMT) day, as Twilio documents it (the SDK sends dates as midnight).
    """
    try:
        if DATE_ONLY.fullmatch(value):
            stamp = float(calendar.timegm(time.strptime(value, "%Y-%m-%d")))
            precision = 86400.0
        else:
            stamp = float(calendar.timegm(time.strptime(value.rstrip("Z"), "%Y-%m-%dT%H:%M:%S")))
            precision = 1.0
    except ValueError:
        return None
    if op == ">":
        return stamp, math.inf
    if op == "<":
        return -math.inf, stamp + precision
    day = stamp - stamp % 86400
    return day, day + 86400


def parse_form(raw: bytes) -> list[tuple[str, str]]:
    """Decode an application/x-www-form-urlencoded body (same result as parse_qsl, keeping blanks).

    Only parts holding '%' or '+' go through unquote_plus: a third cheaper than parse_qsl on Twilio forms.
    """
    pairs: list[tuple[str, str]] = []
    for part in raw.decode("utf-8", "replace").split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        pairs.append((key, value))
    return pairs


def _date(ts: float | None) -> str | None:
    return None if ts is None else rfc2822(ts)


def message_resource(record: dict[str, Any], account_sid: str) -> dict[str, Any]:
    """The Message resource JSON for a logged SMS record.

    Built on demand (create, fetch, list) instead of stored: a statewide alert holds tens of thousands of
    records, and one copy of each is enough.
    """
    sid = record["sid"]
    base = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    error_code = record["error_code"]
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": record["body"],
        "date_created": rfc2822(record["received_at"]),
        "date_sent": _date(record["sent_at"]),
        "date_updated": rfc2822(record["updated_at"]),
        "direction": "outbound-api",
        "error_code": error_code,
        "error_message": UNDELIVERED_MESSAGE if error_code == UNDELIVERED_CODE else None,
        "from": record["from"],
        "messaging_service_sid": record["messaging_service_sid"],
        "num_media": str(record["num_media"]),
        "num_segments": str(record["num_segments"]),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": record["status"],
        "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
        "to": record["to"],
        "uri": f"{base}.json",
    }


def call_resource(record: dict[str, Any], account_sid: str) -> dict[str, Any]:
    """The Call resource JSON for a logged call record (built on demand, like message_resource)."""
    sid = record["sid"]
    base = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}"
    duration = record["duration"]
    return {
        "account_sid": account_sid,
        "annotation": None,
        "answered_by": record["answered_by"],
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(record["received_at"]),
        "date_updated": rfc2822(record["updated_at"]),
        "direction": "outbound-api",
        "duration": None if duration is None else str(duration),
        "end_time": _date(record["ended_at"]),
        "forwarded_from": None,
        "from": record["from"],
        "from_formatted": record["from"],
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": _date(record["started_at"]),
        "status": record["status"],
        "subresource_uris": {
            "notifications": f"{base}/Notifications.json",
            "recordings": f"{base}/Recordings.json",
        },
        "to": record["to"],
        "to_formatted": record["to"],
        "trunk_sid": None,
        "uri": f"{base}.json",
    }
