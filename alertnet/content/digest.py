"""What the weekly school safety update says: items' Markdown rendered and sanitized, the email (CSS
inlined) and its plain-text part, and the public archive pages.

Markdown goes through markdown-it-py with raw HTML off, then through nh3 (the Ammonia sanitizer) with a
short allow-list: no script, no event handler and no `javascript:` link reaches an email or a page, whatever
an editor typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import css_inline
import nh3
from markdown_it import MarkdownIt

from alertnet.content.templates import environment
from alertnet.domain.digest import DigestItem
from alertnet.domain.messages import UNSUBSCRIBE_LINK_TAG, Content, EmailContent

TITLE = "Weekly School Safety Update"
NETWORK = "School Safety Alert Network"
ALLOWED_TAGS = {
    "p", "br", "strong", "em", "b", "i", "a", "ul", "ol", "li", "blockquote", "code", "pre", "h3", "h4",
    "hr",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def markdown_html(text: str) -> str:
    """An item's Markdown as sanitized HTML (headings demoted below the item's own title)."""
    rendered = _markdown.render(text)
    for level in (1, 2):
        rendered = rendered.replace(f"<h{level}>", "<h3>").replace(f"</h{level}>", "</h3>")
    return nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


@dataclass(frozen=True)
class RenderedItem:
    title: str
    category: str
    html: str
    body: str
    link: str


def rendered_items(items: Sequence[DigestItem]) -> list[RenderedItem]:
    return [RenderedItem(i.title, i.category, markdown_html(i.body), i.body, i.link) for i in items]


def issue_date(send_time: datetime) -> str:
    return f"{send_time:%A} {send_time.day} {send_time:%B %Y}"


def subject(number: int, send_time: datetime, *, test: bool = False) -> str:
    return f"{'[TEST] ' if test else ''}{TITLE}, issue {number} ({issue_date(send_time)})"


def digest_content(
    number: int,
    send_time: datetime,
    items: Sequence[DigestItem],
    *,
    archive_link: str,
    unsubscribe_link: str = UNSUBSCRIBE_LINK_TAG,
    test: bool = False,
) -> Content:
    """One edition's email: HTML with its CSS inlined, and a plain-text part. The unsubscribe link stays
    a tag (each recipient's own, filled in at send time) unless one is given."""
    context = {
        "title": TITLE,
        "network": NETWORK,
        "number": number,
        "date": issue_date(send_time),
        "items": rendered_items(items),
        "archive_link": archive_link,
        "unsubscribe_link": unsubscribe_link,
        "test": test,
        "subject": subject(number, send_time, test=test),
    }
    env = environment()
    html = _inliner.inline(env.get_template("digest_email.html.j2").render(context))
    text = env.get_template("digest_email.txt.j2").render(context)
    return Content(email=EmailContent(subject(number, send_time, test=test), html, text))


def issue_page_html(number: int, send_time: datetime, items: Sequence[DigestItem], *, index_link: str) -> str:
    """The public page of a sent issue: the statewide items only."""
    statewide = [i for i in items if i.statewide]
    return (
        environment()
        .get_template("digest_page.html.j2")
        .render(
            title=TITLE,
            number=number,
            date=issue_date(send_time),
            items=rendered_items(statewide),
            index_link=index_link,
        )
    )


def archive_index_html(issues: Sequence[tuple[int, datetime, str]]) -> str:
    """Every sent issue, newest first: (number, send time, link)."""
    listed = [{"number": n, "date": issue_date(t), "link": link} for n, t, link in issues]
    return environment().get_template("digest_index.html.j2").render(title=TITLE, issues=listed)


def unsubscribe_page_html(*, subscribed: bool, error: str = "", list_title: str = TITLE) -> str:
    return (
        environment()
        .get_template("unsubscribe_page.html.j2")
        .render(list_title=list_title, subscribed=subscribed, error=error)
    )
