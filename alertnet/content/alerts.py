"""What an alert says on each channel: SMS text, the call's script, email subject and bodies.

Every message of an Exercise or Test alert is visibly marked: the SMS and the email subject start with
``EXERCISE - `` / ``TEST - ``, every spoken pass of a call starts with "This is an exercise", and the
emails carry a banner at the top and the bottom. Updates and cancellations say so (``UPDATE: ``,
``CANCELLED: ``) after the marker.

`alert_message` puts it all into the `Message` the pipeline carries. Templates come from the one Jinja
environment of `alertnet.content.templates`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alertnet.content.templates import environment
from alertnet.domain.alerts import Alert, MsgType, Status, message_kind
from alertnet.domain.messages import ACK_LINK_TAG, Content, EmailContent, Message, VoiceScript
from alertnet.domain.polls import link_choices, poll_sms, voice_prompt
from alertnet.domain.sms import fit_sms

ACK_PLACEHOLDER = ACK_LINK_TAG
"""SendGrid substitution tag standing for each recipient's acknowledgement link in the shared bodies."""

NETWORK = "School Safety Alert Network"
AUTHORITY = "Missouri Department of Public Safety"
LOCAL_ZONE = "America/Chicago"

# ----------------------------------------------------------------------------------------- wording


def marker(alert: Alert) -> str:
    """``EXERCISE - `` / ``TEST - `` for non-Actual alerts, else empty."""
    if alert.status is Status.ACTUAL:
        return ""
    return f"{alert.status.value.upper()} - "


# What a follow-up is, said before its title in every message (and wherever the console names it).
KIND_WORDS = {MsgType.UPDATE: "UPDATE", MsgType.CANCEL: "CANCELLED"}


def kind_prefix(alert: Alert) -> str:
    word = KIND_WORDS.get(alert.msg_type)
    return f"{word}: " if word else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def title(alert: Alert) -> str:
    """Event and headline, without saying the event twice when the headline already starts with it."""
    event, headline = _one_line(alert.event), _one_line(alert.headline)
    if headline.casefold().startswith(event.casefold()):
        return headline
    return f"{event}: {headline}"


# --------------------------------------------------------------------------------------------- SMS


def sms_text(alert: Alert, *, code: str, link: str) -> str:
    """The SMS: ``[EXERCISE - ][UPDATE: ]<event>: <headline> Code <code> <link>``, fitted by `fit_sms`
    into one segment (the event/headline part is shortened; the marker, code and link are never cut). A
    poll adds its answer line (``Reply 1=Safe 2=Need help``) before the code, shorter if need be."""
    if alert.poll is not None and alert.msg_type is not MsgType.CANCEL:
        return poll_sms(marker(alert) + kind_prefix(alert), title(alert), alert.poll, f" Code {code} {link}")
    return fit_sms(marker(alert) + kind_prefix(alert), title(alert), f" Code {code} {link}")


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


def voice_script(alert: Alert, *, code: str) -> VoiceScript:
    """The call: the whole alert (marker, event, headline, instruction, spelled code) twice, then
    "Press 1 to acknowledge" (a poll: its question and "Press 1 for Safe. ...") while listening for one
    key, and a closing line for callers who press nothing; a cancellation asks for no key.
    """
    exercise = alert.status is not Status.ACTUAL
    closing = "No acknowledgement was received. Please check your text messages and email."
    if exercise:
        closing = f"This was {_a_drill(alert)}. {closing}"
    prompt = voice_prompt(alert.poll) if alert.poll else "Press 1 to acknowledge this alert."
    return VoiceScript(
        passes=(" ".join(_spoken(alert, code)), "Repeating. " + " ".join(_spoken(alert, code))),
        # A cancellation asks for nothing (as its email and SMS do not): no key to press, no wait.
        ack_prompt="" if alert.msg_type is MsgType.CANCEL else prompt,
        closing_after_prompt=closing + " Goodbye.",
        closing=f"This was {_a_drill(alert)}. Goodbye." if exercise else "Goodbye.",
    )


# ------------------------------------------------------------------------------------------- email


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
        "poll": alert.poll,
        "choices": link_choices(alert.poll, ack_link if ack_link and ack_link != link else ""),
    }


def email_bodies(alert: Alert, *, code: str, link: str, ack_link: str | None) -> tuple[str, str]:
    """(html, text) bodies for one recipient; the HTML is autoescaped."""
    html, text = environment().get_template("email.html.j2"), environment().get_template("email.txt.j2")
    context = _context(alert, code, link, ack_link)
    return html.render(context), text.render(context)


def email_shared_bodies(alert: Alert, *, code: str, link: str) -> tuple[str, str]:
    """(html, text) rendered once per alert, the per-recipient ack link left as the SendGrid
    substitution tag ``-ack_link-`` (`ACK_PLACEHOLDER`) to be filled per personalization."""
    return email_bodies(alert, code=code, link=link, ack_link=ACK_PLACEHOLDER)


# ----------------------------------------------------------------------------------------- message


def alert_content(alert: Alert, *, code: str, link: str, acknowledgeable: bool) -> Content:
    """The alert rendered for each of its channels. Without acknowledgements (a cancellation) the email's
    link goes to the alert's page instead of a personal acknowledgement page."""
    ack_link = ACK_PLACEHOLDER if acknowledgeable else link
    html, text = email_bodies(alert, code=code, link=link, ack_link=ack_link)
    return Content(
        sms=sms_text(alert, code=code, link=link),
        voice=voice_script(alert, code=code),
        email=EmailContent(email_subject(alert), html, text),
    )


def alert_message(alert: Alert, *, code: str, link: str) -> Message:
    """The message an accepted, signed alert travels as (`link` is the alert's own page)."""
    acknowledgeable = alert.msg_type is not MsgType.CANCEL
    return Message(
        id=alert.id,
        kind=message_kind(alert),
        priority=alert.priority,
        acknowledgeable=acknowledgeable,
        escalatable=alert.msg_type is MsgType.ALERT,
        content=alert_content(alert, code=code, link=link, acknowledgeable=acknowledgeable),
        created=alert.sent.timestamp(),
        expires=None if alert.expires is None else alert.expires.timestamp(),
    )
