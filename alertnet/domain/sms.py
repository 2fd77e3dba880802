"""SMS text rules (pure): the GSM-7 alphabet, segment counting, and fitting a text into one segment.

A message over 160 GSM-7 characters (70 if any character is outside GSM-7) is split into segments, each
counted against the sender's rate: alerts keep to one segment and link to a page for the rest.
"""

from __future__ import annotations

import itertools
import unicodedata

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


def fit_sms(head: str, body: str, tail: str) -> str:
    """``head + body + tail`` in as few segments as it can take, cutting only ``body``.

    Typographic characters are turned into GSM-7 first (`to_gsm7`). ``body`` is shortened (ending in
    "...") until the whole text fits one segment (160 GSM-7 septets); ``head`` and ``tail`` are never cut.
    If that would leave fewer than 30 characters of ``body`` (a very long link in ``tail``), the text takes
    more segments instead. Text that GSM-7 cannot carry (emoji, other scripts) goes as UCS-2 in up to 3
    segments rather than being cut to nothing.
    """
    head, body, tail = to_gsm7(head), to_gsm7(body), to_gsm7(tail)
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
