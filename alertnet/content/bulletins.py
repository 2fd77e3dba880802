"""What a cyber threat bulletin says on each channel, under its TLP 2.0 label.

Every part starts and ends with the label (FIRST's rule: the label comes before the information it marks,
so nobody reads a word before knowing who may hear it), and says the label's sharing rule. An edition shows
only the indicators its recipients may see (`shown`): the others are left out, not blanked. TLP:RED
content is never put in an SMS: its SMS only says there is a bulletin behind the personal link.

Per-recipient links stay tags (`READ_LINK_TAG`, `UNSUBSCRIBE_LINK_TAG`) filled in at send time. Text a
publisher wrote is autoescaped by Jinja; the body is Markdown, rendered and sanitized by `markdown_html`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import css_inline

from alertnet.content.digest import NETWORK, markdown_html
from alertnet.content.templates import environment
from alertnet.domain.bulletins import Bulletin, Indicator
from alertnet.domain.messages import READ_LINK_TAG, UNSUBSCRIBE_LINK_TAG, Content, EmailContent
from alertnet.domain.sms import GSM7_BASIC, fit_sms, to_gsm7
from alertnet.domain.tlp import BACKGROUND, Tlp

KIND = "Cyber bulletin"
RETRACTED = (
    "This cyber bulletin was sent in error and is retracted: disregard it and delete copies you keep. "
    "Its links no longer work."
)
SMS_TEXT_LIMIT = 160
"""The SMS text before the link: one GSM-7 segment's worth (the link, ~100 characters, comes on top)."""
INDICATOR_NAMES = {
    "domain-name": "Domain",
    "ipv4-addr": "IPv4 address",
    "ipv6-addr": "IPv6 address",
    "url": "URL",
    "email-addr": "Email address",
    "file:hashes.MD5": "File MD5",
    "file:hashes.SHA-1": "File SHA-1",
    "file:hashes.SHA-256": "File SHA-256",
}
_ASCII_FOR_EXTENDED = {"[": "(", "]": ")", "{": "(", "}": ")", "~": "-", "|": "/", "\\": "/", "^": " "}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&])")
_MD_LINE_START = re.compile(r"^([ \t]*(?:\d+)?)([#>+=.)-])", re.MULTILINE)

_inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


@dataclass(frozen=True)
class ShownIndicator:
    """An indicator as the templates show it: its own label only when stricter than the bulletin's."""

    type: str
    type_name: str
    value: str
    first_seen: str
    last_seen: str
    confidence: str
    label: Tlp | None


def _paragraphs(text: str) -> list[list[str]]:
    """Plain text as paragraphs of lines (a blank line starts a paragraph), for HTML `<p>`/`<br>`."""
    blocks = re.split(r"\n\s*\n", text.strip())
    return [
        [line.strip() for line in block.splitlines() if line.strip()] for block in blocks if block.strip()
    ]


def _seen(value: str) -> str:
    """``2026-12-01T10:00:00.000Z`` as ``2026-12-01 10:00 UTC`` ("" stays "")."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}):\d{2}(?:\.\d+)?Z", value)
    return f"{match[1]} {match[2]} UTC" if match else value


def _shown(bulletin: Bulletin, shown: Sequence[int]) -> list[ShownIndicator]:
    """The edition's indicators, in the bulletin's order; positions outside the bulletin are ignored."""
    wanted = set(shown)
    return [
        _indicator(bulletin.tlp, indicator) for n, indicator in enumerate(bulletin.indicators) if n in wanted
    ]


def _indicator(bulletin_tlp: Tlp, indicator: Indicator) -> ShownIndicator:
    own = indicator.label(bulletin_tlp)
    return ShownIndicator(
        type=indicator.type.value,
        type_name=INDICATOR_NAMES.get(indicator.type.value, indicator.type.value),
        value=indicator.value,
        first_seen=_seen(indicator.first_seen),
        last_seen=_seen(indicator.last_seen),
        confidence="" if indicator.confidence is None else str(indicator.confidence),
        label=own if own.stricter_than(bulletin_tlp) else None,
    )


def _stricter_labels(indicators: Sequence[ShownIndicator]) -> list[Tlp]:
    """The stricter labels the shown indicators carry, least strict first (each says its own rule)."""
    return sorted({i.label for i in indicators if i.label is not None}, key=lambda t: t.rank)


def email_subject(bulletin: Bulletin) -> str:
    return f"[{bulletin.tlp.value}] {KIND} ({bulletin.severity.value}): {bulletin.title}"


def _context(bulletin: Bulletin, shown: Sequence[int]) -> dict[str, object]:
    indicators = _shown(bulletin, shown)
    return {
        "network": NETWORK,
        "kind": KIND,
        "tlp": bulletin.tlp,
        "background": BACKGROUND,
        "bulletin": bulletin,
        "title": bulletin.title,
        "severity": bulletin.severity.value,
        "summary": bulletin.summary,
        "summary_paragraphs": _paragraphs(bulletin.summary),
        "body": bulletin.body,
        "body_html": markdown_html(bulletin.body),
        "indicators": indicators,
        "stricter_labels": _stricter_labels(indicators),
        "actions": bulletin.actions,
        "references": bulletin.references,
    }


# ------------------------------------------------------------------------------------------------ SMS


def sms_ascii(text: str) -> str:
    """Text an SMS can carry as plain GSM-7 ASCII in one line: typographic characters and accents
    replaced, characters of the GSM extension table (two septets each) swapped for plain ones, and
    anything else (emoji, other scripts) dropped so the SMS never falls back to UCS-2."""
    out: list[str] = []
    for ch in to_gsm7(" ".join(text.split())):
        if ch in _ASCII_FOR_EXTENDED:
            out.append(_ASCII_FOR_EXTENDED[ch])
            continue
        if ch.isascii() and ch in GSM7_BASIC:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base.isascii() and all(c in GSM7_BASIC for c in base) else "")
    return " ".join("".join(out).split())


def bulletin_sms(bulletin: Bulletin, read_link: str = READ_LINK_TAG) -> str:
    """The SMS notice: the label first; TLP:RED says nothing of the content at all. The text before the
    link keeps to 160 characters (the title is shortened); the link is never cut."""
    label = bulletin.tlp.value
    if bulletin.tlp is Tlp.RED:
        return f"{label} {KIND} for you. Read it (personal link, do not forward): {read_link}"
    head = f"{label} {KIND} ({bulletin.severity.value}): "
    return _fitted(head, sms_ascii(bulletin.title), " Read: ") + read_link


def retraction_sms(bulletin: Bulletin) -> str:
    """The retraction's SMS: TLP:RED names nothing of the bulletin; other labels may name its title."""
    label = bulletin.tlp.value
    if bulletin.tlp is Tlp.RED:
        return f"{label} A cyber bulletin sent to you was retracted: disregard it."
    return _fitted(f"{label} {KIND} retracted (sent in error), disregard it: ", sms_ascii(bulletin.title), "")


def _fitted(head: str, body: str, tail: str) -> str:
    """``head + body + tail`` within `SMS_TEXT_LIMIT`, cutting only ``body`` (all three are GSM ASCII,
    so `fit_sms` keeps it to one segment)."""
    return fit_sms(head, body or "(see the bulletin)", tail)


# ---------------------------------------------------------------------------------------------- email


def bulletin_content(
    bulletin: Bulletin,
    shown: Sequence[int],
    *,
    sms: bool,
    read_link: str = READ_LINK_TAG,
    unsubscribe_link: str = UNSUBSCRIBE_LINK_TAG,
) -> Content:
    """One edition of a bulletin: the email (HTML with CSS inlined, and plain text) carrying the content
    under its label for every label (a TLP:RED email reaches only the named officials), and the SMS
    notice when asked for. No voice: a bulletin is read, not called out."""
    context = {
        **_context(bulletin, shown),
        "subject": email_subject(bulletin),
        "read_link": read_link,
        "unsubscribe_link": unsubscribe_link,
    }
    env = environment()
    html = _inliner.inline(env.get_template("bulletin_email.html.j2").render(context))
    text = env.get_template("bulletin_email.txt.j2").render(context)
    return Content(
        sms=bulletin_sms(bulletin, read_link) if sms else None,
        email=EmailContent(email_subject(bulletin), html, text),
    )


def retraction_content(bulletin: Bulletin, *, sms: bool) -> Content:
    """The notice that a bulletin is retracted, under the bulletin's own label (it names the bulletin)."""
    subject = f"[{bulletin.tlp.value}] Retracted: cyber bulletin {bulletin.title}"
    context = {
        "network": NETWORK,
        "tlp": bulletin.tlp,
        "background": BACKGROUND,
        "subject": subject,
        "title": bulletin.title,
        "notice": RETRACTED,
        "reason": bulletin.retracted_reason,
        "reason_paragraphs": _paragraphs(bulletin.retracted_reason),
    }
    env = environment()
    html = _inliner.inline(env.get_template("bulletin_retraction_email.html.j2").render(context))
    text = env.get_template("bulletin_retraction_email.txt.j2").render(context)
    return Content(sms=retraction_sms(bulletin) if sms else None, email=EmailContent(subject, html, text))


# ---------------------------------------------------------------------------------------------- pages


def bulletin_page_html(
    bulletin: Bulletin, shown: Sequence[int], *, official_name: str, stix_link: str, csv_link: str
) -> str:
    """The page an official's personal link opens: what the email shows, with the indicator downloads."""
    return (
        environment()
        .get_template("bulletin_page.html.j2")
        .render(
            **_context(bulletin, shown),
            gone=False,
            message="",
            page_title=f"[{bulletin.tlp.value}] {KIND}: {bulletin.title}",
            official_name=official_name,
            stix_link=stix_link,
            csv_link=csv_link,
        )
    )


def bulletin_gone_page_html(message: str) -> str:
    """The page of a retracted bulletin or a link that does not work: the reason and nothing else."""
    return (
        environment()
        .get_template("bulletin_page.html.j2")
        .render(gone=True, message=message, page_title=KIND, network=NETWORK)
    )


# --------------------------------------------------------------------------------------------- digest


def _md_text(text: str) -> str:
    """Plain text made literal in Markdown (no emphasis, link, list or heading of its own)."""
    return _MD_LINE_START.sub(r"\1\\\2", _MD_SPECIAL.sub(r"\\\1", text))


def _closed_fences(markdown: str) -> str:
    """``markdown`` with a code fence it left open closed, so what follows it stays outside the block."""
    fence = ""
    for line in markdown.splitlines():
        match = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if match is None:
            continue
        if not fence:
            fence = match[1]
        elif match[1][0] == fence[0] and len(match[1]) >= len(fence) and not line.strip()[len(match[1]) :]:
            fence = ""
    return f"{markdown}\n{fence}" if fence else markdown


def _md_code(value: str) -> str:
    """A code span holding ``value`` exactly, whatever backticks it has."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def digest_item_fields(bulletin: Bulletin) -> dict[str, str]:
    """A CLEAR or GREEN bulletin as an item of the weekly digest: the title and Markdown body, both
    starting with the label. Every indicator of such a bulletin is CLEAR or GREEN, so all are listed."""
    label = bulletin.tlp.value
    parts = [
        f"**{label}**",
        _md_text(bulletin.tlp.sharing_rule),
        f"Severity: **{bulletin.severity.value}**",
        _md_text(bulletin.summary),
        _closed_fences(bulletin.body),
    ]
    if bulletin.indicators:
        lines = ["**Indicators**", ""]
        for indicator in bulletin.indicators:
            shown = _indicator(bulletin.tlp, indicator)
            details = [
                f"first seen {shown.first_seen}" if shown.first_seen else "",
                f"last seen {shown.last_seen}" if shown.last_seen else "",
                f"confidence {shown.confidence}" if shown.confidence else "",
                f"**{shown.label.value}**" if shown.label is not None else "",
            ]
            extra = "; ".join(d for d in details if d)
            lines.append(f"- {shown.type_name}: {_md_code(shown.value)}" + (f" ({extra})" if extra else ""))
        parts.append("\n".join(lines))
    if bulletin.actions:
        parts.append(
            "\n".join(["**Recommended actions**", "", *(f"- {_md_text(a)}" for a in bulletin.actions)])
        )
    if bulletin.references:
        parts.append("\n".join(["**References**", "", *(f"- <{r}>" for r in bulletin.references)]))
    parts.append(f"**{label}**")
    return {"title": f"[{label}] {bulletin.title}", "body": "\n\n".join(parts)}
