"""The pages officials open from their messages: an alert's own page and the acknowledgement page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertnet.content.templates import environment
from alertnet.domain.polls import Poll, PollAnswer, link_choices


def alert_page_html(alert: Mapping[str, Any], verification: Mapping[str, Any], *, public_key: str) -> str:
    """The alert (its stored JSON), whether its signature verifies, and how to check it."""
    return (
        environment()
        .get_template("alert_page.html.j2")
        .render(alert=alert, verification=verification, public_key=public_key)
    )


def ack_page_html(
    *,
    alert: Mapping[str, Any] | None = None,
    done: bool = False,
    token: str = "",
    error: str = "",
    answer: PollAnswer | None = None,
    picked: str = "",
) -> str:
    """What an email's acknowledgement link acknowledges, with its button (or that it is done); or why
    the link cannot be used. An alert with a poll shows one button per answer (`picked`: the answer the
    email's link named, shown first), and the official's recorded `answer`."""
    alert = alert or {}
    choices = link_choices(Poll.from_dict(alert["poll"]), "x") if alert.get("poll") else []
    choices.sort(key=lambda c: str(c.number) != picked)
    return (
        environment()
        .get_template("ack_page.html.j2")
        .render(alert=alert, done=done, token=token, error=error, choices=choices, answer=answer)
    )
