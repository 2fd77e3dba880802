"""What a cyber bulletin says on each channel under each TLP 2.0 label: the label first and last, hidden
indicators left out everywhere, no TLP:RED content in an SMS, publishers' text escaped."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from alertnet.content.bulletins import (
    SMS_TEXT_LIMIT,
    bulletin_content,
    bulletin_gone_page_html,
    bulletin_page_html,
    digest_item_fields,
    retraction_content,
)
from alertnet.content.digest import markdown_html
from alertnet.content.templates import configure
from alertnet.domain.bulletin_input import parse_bulletin
from alertnet.domain.bulletins import Bulletin, new_bulletin
from alertnet.domain.messages import READ_LINK_TAG, UNSUBSCRIBE_LINK_TAG, Content
from alertnet.domain.sms import GSM7_BASIC
from alertnet.domain.tlp import BACKGROUND, Tlp

NOW = 1_780_000_000.0
TITLE = "Credential phishing against district payroll"
SUMMARY = "A phishing kit imitates the payroll portal.\nSeen in three districts."
SHOWN_VALUE = "payroll-login.example"
HIDDEN_VALUE = "hidden-c2.example"
HIDDEN_IP = "203.0.113.77"
# The stricter label the hidden indicator carries (RED has none stricter: its hidden one is the RED's own).
HIDDEN_LABEL = {
    Tlp.CLEAR: Tlp.RED,
    Tlp.GREEN: Tlp.AMBER,
    Tlp.AMBER: Tlp.AMBER_STRICT,
    Tlp.AMBER_STRICT: Tlp.RED,
    Tlp.RED: None,
}


def payload(tlp: Tlp, **overrides: Any) -> dict[str, Any]:
    hidden_label = HIDDEN_LABEL[tlp]
    labels = {tlp, hidden_label}
    data: dict[str, Any] = {
        "title": TITLE,
        "summary": SUMMARY,
        "body": "## What happened\n\nStaff got mail asking them to **confirm** their pay details.",
        "tlp": tlp.value,
        "severity": "high",
        "indicators": [
            {
                "type": "domain-name",
                "value": SHOWN_VALUE,
                "first_seen": "2026-12-01T10:00:00Z",
                "last_seen": "2026-12-02T11:30:00Z",
                "confidence": 85,
            },
            {
                "type": "domain-name",
                "value": HIDDEN_VALUE,
                **({"tlp": hidden_label.value} if hidden_label else {}),
            },
            {
                "type": "ipv4-addr",
                "value": HIDDEN_IP,
                **({"tlp": hidden_label.value} if hidden_label else {}),
            },
        ],
        "actions": ["Block the domain at the mail gateway", "Reset passwords of staff who clicked"],
        "references": ["https://advisories.example/2026/phish-17?x=1&y=2"],
    }
    if labels & {Tlp.AMBER, Tlp.AMBER_STRICT}:
        data["organizations"] = ["Springfield R-12"]
    if Tlp.RED in labels:
        data["officials"] = ["off-001", "off-002"]
    data.update(overrides)
    return data


def bulletin(tlp: Tlp, **overrides: Any) -> Bulletin:
    return new_bulletin(parse_bulletin(payload(tlp, **overrides)), author="pub", now=NOW)


SHOWN = (0,)  # the edition: the first indicator only


class Visible(HTMLParser):
    """The text of a page's body in order, each piece with the style of the element holding it."""

    def __init__(self) -> None:
        super().__init__()
        self.in_body = False
        self.skip = 0
        self.styles: list[str] = []
        self.pieces: list[tuple[str, str]] = []
        self.meta: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_body = True
        if tag == "meta":
            self.meta.append(dict(attrs))
        if tag in ("style", "script", "title"):
            self.skip += 1
        if tag not in ("br", "meta", "hr"):
            self.styles.append(dict(attrs).get("style") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self.skip -= 1
        if tag not in ("br", "meta", "hr") and self.styles:
            self.styles.pop()

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if self.in_body and not self.skip and text:
            self.pieces.append((text, self.styles[-1] if self.styles else ""))


def visible(html: str) -> Visible:
    parser = Visible()
    parser.feed(html)
    parser.close()
    return parser


def assert_coloured_label(piece: tuple[str, str], tlp: Tlp) -> None:
    text, style = piece
    assert text == tlp.value
    declared = dict(
        (k.strip().lower(), v.strip().upper())
        for k, _, v in (d.partition(":") for d in style.split(";"))
        if v
    )
    assert declared.get("color") == tlp.colour.upper()
    assert declared.get("background-color") == BACKGROUND.upper()


def non_empty_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def every_part(content: Content) -> list[str]:
    assert content.email is not None
    return [content.sms or "", content.email.subject, content.email.html, content.email.text]


# --- the email under each label ------------------------------------------------------------------------


@pytest.mark.parametrize("tlp", list(Tlp), ids=lambda t: t.value)
def test_email_starts_and_ends_with_the_label(tlp: Tlp) -> None:
    content = bulletin_content(bulletin(tlp), SHOWN, sms=True)
    assert content.email is not None and content.voice is None
    assert content.email.subject == f"[{tlp.value}] Cyber bulletin (high): {TITLE}"

    lines = non_empty_lines(content.email.text)
    assert content.email.text.splitlines()[0] == tlp.value
    assert lines[1] == tlp.sharing_rule
    assert lines[-1] == tlp.value

    page = visible(content.email.html)
    assert_coloured_label(page.pieces[0], tlp)
    assert page.pieces[1][0] == tlp.sharing_rule
    assert_coloured_label(page.pieces[-1], tlp)
    body = re.sub(r"(?s)^.*?<body[^>]*>", "", content.email.html)
    assert body.lstrip().startswith("<p")
    assert re.match(
        rf'\s*<p[^>]*><span style="color:{re.escape(tlp.colour)};background-color:{BACKGROUND};[^"]*">'
        rf"{re.escape(tlp.value)}</span></p>",
        body,
    )
    assert re.search(rf">{re.escape(tlp.value)}</span></p>\s*</body>", body)


@pytest.mark.parametrize("tlp", list(Tlp), ids=lambda t: t.value)
def test_email_carries_the_content_and_personal_links(tlp: Tlp) -> None:
    """Every label's email carries the bulletin itself (a RED email goes only to the named officials)."""
    content = bulletin_content(bulletin(tlp), SHOWN, sms=False)
    assert content.email is not None and content.sms is None
    text, html = content.email.text, content.email.html
    for part in (text, html):
        assert TITLE in part
        assert "Seen in three districts." in part
        assert SHOWN_VALUE in part
        assert "2026-12-01 10:00 UTC" in part and "2026-12-02 11:30 UTC" in part and "85" in part
        assert "Block the domain at the mail gateway" in part
        assert "Severity" in part and "high" in part
    assert "**confirm**" in text  # the raw Markdown in the text part
    assert "<strong>confirm</strong>" in html and "<h3>What happened</h3>" in html
    assert "https://advisories.example/2026/phish-17?x=1&y=2" in text
    assert 'href="https://advisories.example/2026/phish-17?x=1&amp;y=2"' in html
    assert f"Read it online (your personal link, do not forward): {READ_LINK_TAG}" in text
    assert f"Stop receiving cyber bulletins (alerts are not affected): {UNSUBSCRIBE_LINK_TAG}" in text
    assert f'href="{READ_LINK_TAG}"' in html and f'href="{UNSUBSCRIBE_LINK_TAG}"' in html
    assert "<style" not in html  # inlined for mail clients that drop it


def test_given_links_replace_the_tags() -> None:
    content = bulletin_content(
        bulletin(Tlp.AMBER), SHOWN, sms=True, read_link="https://hub.example/b/tok", unsubscribe_link=""
    )
    assert content.email is not None and content.sms is not None
    assert content.sms.endswith(" Read: https://hub.example/b/tok")
    assert "https://hub.example/b/tok" in content.email.text
    assert READ_LINK_TAG not in content.email.text + content.email.html
    assert "Stop receiving" not in content.email.text


@pytest.mark.parametrize("tlp", list(Tlp), ids=lambda t: t.value)
def test_hidden_indicators_appear_in_no_part(tlp: Tlp) -> None:
    b = bulletin(tlp)
    content = bulletin_content(b, SHOWN, sms=True)
    page = bulletin_page_html(b, SHOWN, official_name="Dana Reyes", stix_link="/s", csv_link="/c")
    for part in [*every_part(content), page]:
        assert HIDDEN_VALUE not in part and HIDDEN_IP not in part
    hidden = HIDDEN_LABEL[tlp]
    if hidden is not None:  # nor is the stricter label it would have brought
        assert content.email is not None
        assert hidden.value not in content.email.text and hidden.value not in content.email.html
        assert hidden.sharing_rule not in content.email.text
    # The edition that may see them gets them.
    everything = bulletin_content(b, (0, 1, 2), sms=False)
    assert everything.email is not None
    assert HIDDEN_VALUE in everything.email.text and HIDDEN_IP in everything.email.html


def test_a_stricter_indicator_shows_its_own_label_in_its_colour() -> None:
    b = bulletin(Tlp.GREEN)
    content = bulletin_content(b, (0, 1), sms=False)
    assert content.email is not None
    assert f"{HIDDEN_VALUE} [TLP:AMBER]" in content.email.text
    assert Tlp.AMBER.sharing_rule in content.email.text
    row = next(line for line in content.email.html.splitlines() if HIDDEN_VALUE in line)
    assert f'<span style="color:{Tlp.AMBER.colour};background-color:{BACKGROUND};' in row
    plain_row = next(line for line in content.email.html.splitlines() if SHOWN_VALUE in line)
    assert Tlp.AMBER.colour not in plain_row  # the bulletin's own label is not repeated in colour


# --- SMS ---------------------------------------------------------------------------------------------


def test_red_sms_carries_no_content() -> None:
    b = bulletin(Tlp.RED)
    content = bulletin_content(b, (0, 1, 2), sms=True)
    assert content.sms == (
        f"TLP:RED Cyber bulletin for you. Read it (personal link, do not forward): {READ_LINK_TAG}"
    )
    for word in ("phishing", "payroll", "districts", "high", SHOWN_VALUE):
        assert word not in content.sms.lower()


@pytest.mark.parametrize("tlp", [t for t in Tlp if t is not Tlp.RED], ids=lambda t: t.value)
def test_sms_starts_with_the_label(tlp: Tlp) -> None:
    content = bulletin_content(bulletin(tlp, severity="critical"), SHOWN, sms=True)
    assert content.sms == f"{tlp.value} Cyber bulletin (critical): {TITLE} Read: {READ_LINK_TAG}"


def test_sms_title_is_shortened_and_gsm_ascii() -> None:
    title = "Ransomware “LockBit” hits Zürich-style portals — " + "very long words " * 9 + "🔥 end"
    b = bulletin(Tlp.AMBER_STRICT, title=title, severity="critical")
    sms = bulletin_content(b, SHOWN, sms=True).sms
    assert sms is not None
    assert sms.startswith(
        'TLP:AMBER+STRICT Cyber bulletin (critical): Ransomware "LockBit" hits Zurich-style'
    )
    assert sms.endswith(f"... Read: {READ_LINK_TAG}")
    text = sms.removesuffix(READ_LINK_TAG)
    assert len(text) <= SMS_TEXT_LIMIT
    assert all(ch.isascii() and ch in GSM7_BASIC for ch in sms)


def test_no_sms_unless_asked() -> None:
    assert bulletin_content(bulletin(Tlp.CLEAR), SHOWN, sms=False).sms is None
    assert retraction_content(bulletin(Tlp.CLEAR), sms=False).sms is None


# --- escaping ----------------------------------------------------------------------------------------


def test_publisher_text_is_escaped() -> None:
    b = bulletin(
        Tlp.GREEN,
        title="Fake <script>alert(1)</script> update",
        summary='Look <img src=x onerror="alert(2)"> here',
        body="[click](javascript:alert(3)) <iframe src=//evil.example></iframe>",
        actions=["Never <b>bold</b>"],
    )
    content = bulletin_content(b, SHOWN, sms=True)
    page = bulletin_page_html(b, SHOWN, official_name="<i>Dana</i>", stix_link="/s", csv_link="/c")
    assert content.email is not None
    for html in (content.email.html, page):
        assert "<script>" not in html and "<img" not in html and "<iframe" not in html
        assert "javascript:" not in html.replace("[click](javascript:alert(3))", "")
        assert 'href="javascript' not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "Never &lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;i&gt;Dana&lt;/i&gt;" in page
    assert "Fake <script>alert(1)</script> update" in content.email.text  # plain text stays as written


# --- retraction --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tlp", list(Tlp), ids=lambda t: t.value)
def test_retraction_carries_the_label(tlp: Tlp) -> None:
    b = replace(bulletin(tlp), retracted_reason="Sent to the wrong <list>.")
    content = retraction_content(b, sms=True)
    assert content.email is not None and content.sms is not None
    assert content.email.subject == f"[{tlp.value}] Retracted: cyber bulletin {TITLE}"
    notice = (
        "This cyber bulletin was sent in error and is retracted: disregard it and delete copies you keep. "
        "Its links no longer work."
    )
    lines = non_empty_lines(content.email.text)
    assert lines[:2] == [tlp.value, tlp.sharing_rule] and lines[-1] == tlp.value
    assert notice in content.email.text and "Sent to the wrong <list>." in content.email.text
    page = visible(content.email.html)
    assert_coloured_label(page.pieces[0], tlp)
    assert page.pieces[1][0] == tlp.sharing_rule
    assert_coloured_label(page.pieces[-1], tlp)
    assert notice in content.email.html and "Sent to the wrong &lt;list&gt;." in content.email.html
    assert content.sms.startswith(f"{tlp.value} ")
    if tlp is Tlp.RED:
        assert content.sms == "TLP:RED A cyber bulletin sent to you was retracted: disregard it."
    else:
        assert TITLE in content.sms and "disregard it" in content.sms


def test_retraction_without_reason_says_none() -> None:
    content = retraction_content(bulletin(Tlp.CLEAR), sms=False)
    assert content.email is not None
    assert "Reason" not in content.email.text and "Reason" not in content.email.html


# --- the official's page -----------------------------------------------------------------------------


@pytest.mark.parametrize("tlp", list(Tlp), ids=lambda t: t.value)
def test_page_has_the_label_banner_downloads_and_noindex(tlp: Tlp) -> None:
    html = bulletin_page_html(
        bulletin(tlp),
        SHOWN,
        official_name="Dana Reyes",
        stix_link="/b/tok/stix",
        csv_link="/b/tok/indicators.csv",
    )
    page = visible(html)
    assert {"name": "robots", "content": "noindex"} in page.meta
    assert_coloured_label(page.pieces[0], tlp)
    assert page.pieces[1][0] == tlp.sharing_rule
    assert_coloured_label(page.pieces[-1], tlp)
    assert 'href="/b/tok/stix"' in html and 'href="/b/tok/indicators.csv"' in html
    assert TITLE in html and SHOWN_VALUE in html and "Dana Reyes" in html
    assert UNSUBSCRIBE_LINK_TAG not in html and READ_LINK_TAG not in html


def test_gone_page_shows_the_escaped_message_only() -> None:
    html = bulletin_gone_page_html("This link does not work: <expired>.")
    assert "This link does not work: &lt;expired&gt;." in html
    assert '<meta name="robots" content="noindex">' in html
    assert "TLP:" not in html


# --- the weekly digest -------------------------------------------------------------------------------


def test_digest_item_fields_for_green() -> None:
    b = bulletin(
        Tlp.GREEN,
        severity="medium",
        organizations=None,
        indicators=[{"type": "domain-name", "value": SHOWN_VALUE, "confidence": 60}],
        actions=["Block *.payroll-login.example"],
    )
    assert b.waits_for_digest
    fields = digest_item_fields(b)
    assert fields["title"] == f"[TLP:GREEN] {TITLE}"
    body = fields["body"]
    lines = non_empty_lines(body)
    assert lines[0] == "**TLP:GREEN**" and lines[-1] == "**TLP:GREEN**"
    rendered = markdown_html(body)
    assert rendered.startswith("<p><strong>TLP:GREEN</strong></p>")
    for expected in (
        Tlp.GREEN.sharing_rule,
        "Seen in three districts.",
        "<strong>confirm</strong>",
        f"<code>{SHOWN_VALUE}</code>",
        "confidence 60",
        "Block *.payroll-login.example",  # plain text, not emphasis
        'href="https://advisories.example/2026/phish-17?x=1&amp;y=2"',
    ):
        assert expected in rendered
    assert "<em>" not in rendered


def test_digest_item_body_survives_an_unclosed_code_fence() -> None:
    b = bulletin(Tlp.CLEAR, severity="low", body="```\nleft open", indicators=[], officials=None)
    rendered = markdown_html(digest_item_fields(b)["body"])
    assert rendered.rstrip().endswith("<p><strong>TLP:CLEAR</strong></p>")


# --- templates may be overridden ---------------------------------------------------------------------


def test_an_operator_template_overrides_the_package_one(tmp_path: Path) -> None:
    (tmp_path / "bulletin_email.txt.j2").write_text(
        "{{ tlp.value }}\nOVERRIDDEN {{ title }}\n{{ tlp.value }}\n"
    )
    try:
        configure(tmp_path)
        content = bulletin_content(bulletin(Tlp.CLEAR), SHOWN, sms=False)
        assert content.email is not None
        assert content.email.text == f"TLP:CLEAR\nOVERRIDDEN {TITLE}\nTLP:CLEAR\n"
        assert "TLP:CLEAR" in content.email.html  # the others still come from the package
    finally:
        configure(None)
