"""What an alert says on each channel: SMS text, voice TwiML, email subject and bodies. Pure functions.

Every message of an Exercise or Test alert is visibly marked: the SMS and the email subject start with
``EXERCISE - `` / ``TEST - ``, every spoken pass of a call starts with "This is an exercise", and the
emails carry a banner at the top and the bottom. Updates and cancellations say so (``UPDATE: ``,
``CANCELLED: ``) after the marker.

The only file access is loading the two email templates from ``config/templates`` (once per process).
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from twilio.twiml.voice_response import VoiceResponse

from alertnet.alerts import Alert, MsgType, Status

TEMPLATES = Path(__file__).resolve().parent.parent / "config" / "templates"
ACK_PLACEHOLDER = "-ack_link-"
"""SendGrid substitution tag standing for each recipient's acknowledgement link in the shared bodies."""

NETWORK = "School Safety Alert Network"
AUTHORITY = "Missouri Department of Public Safety"
LOCAL_ZONE = "America/Chicago"

# ------------------------------------------------------------------------------------------- GSM-7

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 default alphabet (one septet each; the escape code 0x1B itself is not a character)."""
GSM7_EXTENDED = frozenset("\f^{}\\[~]|€")
"""The GSM 03.38 extension table: each costs two septets (escape + character)."""

SINGLE_GSM7 = 160  # septets in a lone segment
MULTI_GSM7 = 153  # septets per segment of a concatenated message (7 octets go to the UDH)
SINGLE_UCS2 = 70  # UTF-16 code units
MULTI_UCS2 = 67

GSM_REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2026": "...",  # ellipsis
    "\u2022": "-",  # bullet
    "\u00a0": " ",  # no-break space
    "\u2007": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\t": " ",
    "\u200b": "",  # zero-width space
    "\ufeff": "",
}


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 default alphabet or its extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def _septets(text: str) -> list[int]:
    return [2 if ch in GSM7_EXTENDED else 1 for ch in text]


def _utf16_units(text: str) -> list[int]:
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(sizes: list[int], capacity: int) -> int:
    """Segments needed when a character (an escape pair, a surrogate pair) never straddles two segments."""
    segments, used = 1, 0
    for size in sizes:
        if used + size > capacity:
            segments += 1
            used = 0
        used += size
    return segments


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes (an empty text still takes one).

    GSM-7 when every character allows it: 160 septets fit one segment, extension-table characters
    (``^{}\\[~]|€`` and form feed) cost two, and a longer text goes in 153-septet parts without splitting an
    escape pair. Otherwise UCS-2: 70 UTF-16 units in one segment, else 67-unit parts (a surrogate pair is
    not split).
    """
    if is_gsm7(text):
        sizes, single, multi = _septets(text), SINGLE_GSM7, MULTI_GSM7
    else:
        sizes, single, multi = _utf16_units(text), SINGLE_UCS2, MULTI_UCS2
    if sum(sizes) <= single:
        return 1
    return _pack(sizes, multi)


def to_gsm7(text: str) -> str:
    """Replace common non-GSM characters with GSM equivalents (curly quotes, dashes, ellipsis, odd
    spaces), then drop accents that GSM lacks (``ô`` -> ``o``) where that yields a GSM character.
    Characters with no GSM form (emoji, other scripts) are kept; the text is then sent as UCS-2."""
    out: list[str] = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
            out.append(ch)
        elif ch in GSM_REPLACEMENTS:
            out.append(GSM_REPLACEMENTS[ch])
        else:
            base = unicodedata.normalize("NFKD", ch)
            stripped = "".join(c for c in base if not unicodedata.combining(c))
            out.append(stripped if stripped and is_gsm7(stripped) else ch)
    return "".join(out)


# ----------------------------------------------------------------------------------------- wording


def marker(alert: Alert) -> str:
    """``EXERCISE - `` / ``TEST - `` for non-Actual alerts, else empty."""
    if alert.status is Status.ACTUAL:
        return ""
    return f"{alert.status.value.upper()} - "


def kind_prefix(alert: Alert) -> str:
    if alert.msg_type is MsgType.UPDATE:
        return "UPDATE: "
    if alert.msg_type is MsgType.CANCEL:
        return "CANCELLED: "
    return ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def title(alert: Alert) -> str:
    """Event and headline, without saying the event twice when the headline already starts with it."""
    event, headline = _one_line(alert.event), _one_line(alert.headline)
    if headline.casefold().startswith(event.casefold()):
        return headline
    return f"{event}: {headline}"


# --------------------------------------------------------------------------------------------- SMS

MIN_SMS_BODY = 30
"""Below this many characters of event/headline the SMS gets a second segment instead of more cuts."""
MAX_UCS2_SEGMENTS = 3


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters ending in "...", at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    if limit <= 3:
        return "..."[:limit]
    cut = text[: limit - 3]
    space = cut.rfind(" ")
    if space >= max(1, len(cut) - 15):
        cut = cut[:space]
    return cut.rstrip(" ,;:-.") + "..."


def sms_text(alert: Alert, *, code: str, link: str) -> str:
    """The SMS: ``[EXERCISE - ][UPDATE: ]<event>: <headline> Code <code> <link>``.

    Typographic characters are turned into GSM-7 first (`to_gsm7`). The event/headline part is shortened
    (ending in "...") until the whole text fits one segment (160 GSM-7 septets); the marker, code and link
    are never cut. If that would leave fewer than 30 characters of it (a very long link), the text takes
    more segments instead. Text that GSM-7 cannot carry (emoji, other scripts) goes as UCS-2 in up to 3
    segments rather than being cut to nothing.
    """
    head = to_gsm7(marker(alert) + kind_prefix(alert))
    tail = to_gsm7(f" Code {code} {link}")
    body = to_gsm7(title(alert))
    full = head + body + tail
    allowed = 1 if is_gsm7(full) else MAX_UCS2_SEGMENTS
    if sms_segments(full) <= allowed:
        return full
    for segments in itertools.count(allowed):
        if sms_segments(full) <= segments:
            return full
        for length in range(len(body) - 1, MIN_SMS_BODY - 1, -1):
            candidate = head + _shorten(body, length) + tail
            if sms_segments(candidate) <= segments:
                return candidate
    raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------------------------------------- voice


def _spell(code: str) -> str:
    """``K7Q-29D`` -> ``K, 7, Q, dash, 2, 9, D`` (each character spoken on its own)."""
    return ", ".join("dash" if ch == "-" else ch for ch in code)


def _spoken(alert: Alert, code: str) -> list[str]:
    """One full spoken pass of the alert, as sentences."""
    lines: list[str] = []
    if alert.status is not Status.ACTUAL:
        drill = _a_drill(alert)
        lines.append(f"This is {drill}. This is {drill}. This is not a real emergency.")
    lines.append(f"This is the {NETWORK}, on behalf of the {AUTHORITY}.")
    if alert.msg_type is MsgType.UPDATE:
        lines.append("This is an update to an earlier alert.")
    elif alert.msg_type is MsgType.CANCEL:
        lines.append("This cancels an earlier alert.")
    lines.append(_sentence(title(alert)))
    if alert.instruction:
        lines.append(_sentence(alert.instruction))
    lines.append(f"Verification code: {_spell(code)}.")
    return lines


def _a_drill(alert: Alert) -> str:
    """``an exercise`` / ``a test``."""
    word = alert.status.value.lower()
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _sentence(text: str) -> str:
    text = _one_line(text)
    return text if text.endswith((".", "!", "?", "\u2026")) else f"{text}."


def voice_twiml(alert: Alert, *, code: str, gather_action: str | None) -> str:
    """TwiML for the call: the whole alert (marker, event, headline, instruction, spelled code) twice.

    With ``gather_action`` both passes and "Press 1 to acknowledge" sit inside
    ``<Gather numDigits="1" action=... method="POST">``, followed by a final ``<Say>`` for callers who
    press nothing.
    """
    response = VoiceResponse()
    passes = [" ".join(_spoken(alert, code)), "Repeating. " + " ".join(_spoken(alert, code))]
    exercise = alert.status is not Status.ACTUAL
    if gather_action is not None:
        gather = response.gather(num_digits=1, action=gather_action, method="POST")
        for text in passes:
            gather.say(text, language="en-US")
            gather.pause(length=1)
        gather.say("Press 1 to acknowledge this alert.", language="en-US")
        closing = "No acknowledgement was received. Please check your text messages and email."
        if exercise:
            closing = f"This was {_a_drill(alert)}. {closing}"
        response.say(closing + " Goodbye.", language="en-US")
    else:
        for text in passes:
            response.say(text, language="en-US")
            response.pause(length=1)
        closing = f"This was {_a_drill(alert)}. Goodbye." if exercise else "Goodbye."
        response.say(closing, language="en-US")
    return str(response.to_xml(xml_declaration=True))


# ------------------------------------------------------------------------------------------- email


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def _templates() -> tuple[jinja2.Template, jinja2.Template]:
    env = _environment()
    return env.get_template("email.html.j2"), env.get_template("email.txt.j2")


def email_subject(alert: Alert) -> str:
    """``[EXERCISE - ][UPDATE: ]<event>: <headline>`` on one line."""
    return _one_line(f"{marker(alert)}{kind_prefix(alert)}{title(alert)}")


def _when(value: datetime) -> str:
    """``Tue, May 6, 2025 9:03 AM CDT (14:03 UTC)``; UTC only when the zone database is missing."""
    utc = value.strftime("%H:%M UTC")
    try:
        local = value.astimezone(ZoneInfo(LOCAL_ZONE))
    except (ZoneInfoNotFoundError, ValueError):
        return value.strftime("%a, %b %d, %Y %H:%M UTC")
    hour = local.hour % 12 or 12
    return (
        f"{local:%a, %b} {local.day}, {local.year} {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'} "
        f"{local.tzname()} ({utc})"
    )


def _paragraphs(text: str) -> list[list[str]]:
    """Paragraphs (split at blank lines), each a list of lines."""
    return [
        [line.rstrip() for line in block.strip("\n").split("\n")]
        for block in re.split(r"\n\s*\n", text.strip())
        if block.strip()
    ]


KIND_LINES = {
    MsgType.UPDATE: "UPDATE to an earlier alert",
    MsgType.CANCEL: "CANCELLATION of an earlier alert",
}


def _context(alert: Alert, code: str, link: str, ack_link: str | None) -> dict[str, Any]:
    exercise = alert.status is not Status.ACTUAL
    return {
        "alert": alert,
        "network": NETWORK,
        "authority": AUTHORITY,
        "subject": email_subject(alert),
        "marker": f"{alert.status.value.upper()} - THIS IS NOT A REAL EMERGENCY" if exercise else "",
        "kind": KIND_LINES.get(alert.msg_type, ""),
        "event": _one_line(alert.event),
        "headline": _one_line(alert.headline),
        "description": _paragraphs(alert.description),
        "instruction": _paragraphs(alert.instruction),
        "severity": alert.severity.value,
        "urgency": alert.urgency.value,
        "certainty": alert.certainty.value,
        "critical": alert.severity.value in ("Extreme", "Severe"),
        "sent": _when(alert.sent),
        "expires": _when(alert.expires) if alert.expires is not None else "",
        "code": code,
        "link": link,
        "ack_link": ack_link or "",
        "alert_id": alert.id,
    }


def email_bodies(alert: Alert, *, code: str, link: str, ack_link: str | None) -> tuple[str, str]:
    """(html, text) bodies for one recipient; the HTML is autoescaped."""
    html, text = _templates()
    context = _context(alert, code, link, ack_link)
    return html.render(context), text.render(context)


def email_shared_bodies(alert: Alert, *, code: str, link: str) -> tuple[str, str]:
    """(html, text) rendered once per alert, the per-recipient ack link left as the SendGrid
    substitution tag ``-ack_link-`` (`ACK_PLACEHOLDER`) to be filled per personalization."""
    return email_bodies(alert, code=code, link=link, ack_link=ACK_PLACEHOLDER)
