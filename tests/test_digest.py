"""The weekly update's pure parts: the schedule (DST-correct), items, editions, sanitizing, tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from alertnet.content.digest import digest_content, markdown_html
from alertnet.domain.audience import Audience
from alertnet.domain.digest import (
    DigestItem,
    DigestValidationError,
    IssueRecord,
    approval_problem,
    editions,
    parse_item,
    parse_test_addresses,
)
from alertnet.domain.digest_schedule import DigestSchedule
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.domain.subscriptions import (
    MailingList,
    ProblemKind,
    TokenError,
    classify_event,
    make_list_token,
    read_list_token,
)

CHICAGO = ZoneInfo("America/Chicago")


def schedule() -> DigestSchedule:
    return DigestSchedule.of(
        timezone="America/Chicago",
        send_day="friday",
        send_time="10:00",
        cutoff_day="thursday",
        cutoff_time="17:00",
        first_date="2026-01-01",
        max_lateness_hours=6,
    )


def item(item_id: str, audience: Audience, position: int = 0) -> DigestItem:
    return DigestItem(
        item_id, 1, f"Title {item_id}", "Body", "", "news", audience, position, "ed", 0.0, "ed", 0.0
    )


def test_issues_are_weekly_at_local_time_across_daylight_saving() -> None:
    s = schedule()
    assert s.send_time(1) == datetime(2026, 1, 2, 10, 0, tzinfo=CHICAGO)  # the first Friday
    # 6 March 2026 is CST (UTC-6), 13 March after the switch is CDT (UTC-5): 10:00 local both times.
    march6, march13 = s.send_time(10), s.send_time(11)
    assert (march6.day, march13.day) == (6, 13)
    assert march6.astimezone(UTC).hour == 16 and march13.astimezone(UTC).hour == 15
    assert s.cutoff(11) == datetime(2026, 3, 12, 17, 0, tzinfo=CHICAGO)


def test_items_after_the_cutoff_go_to_the_next_issue() -> None:
    s = schedule()
    before = datetime(2026, 3, 12, 16, 59, tzinfo=CHICAGO)
    after = datetime(2026, 3, 12, 17, 0, tzinfo=CHICAGO)
    assert s.issue_for_item(before) == 11
    assert s.issue_for_item(after) == 12
    # Between the cut-off and the send the next issue to go out is still 11.
    assert s.next_issue(after) == 11
    assert s.latest_due(datetime(2026, 3, 13, 10, 0, tzinfo=CHICAGO)) == 11
    assert s.latest_due(datetime(2026, 3, 13, 9, 59, tzinfo=CHICAGO)) == 10


def test_item_validation_names_every_bad_field() -> None:
    with pytest.raises(DigestValidationError) as caught:
        parse_item(
            {"title": "", "body": 5, "category": "gossip", "link": "javascript:alert(1)", "colour": "red"},
            partial=False,
        )
    fields = {e.field for e in caught.value.errors}
    assert fields == {"title", "body", "category", "link", "colour"}
    fields_ok = parse_item({"title": "T", "body": "B", "category": "Grants"}, partial=False)
    assert fields_ok["category"] == "grants"
    with pytest.raises(DigestValidationError):
        parse_item({"audience": {"regions": "Central"}}, partial=True)


def test_markdown_is_sanitized_whatever_the_editor_typed() -> None:
    html = markdown_html(
        "Apply by **March 1**. <script>alert(1)</script> <a href='x' onclick='y'>a</a> "
        "[bad](javascript:alert(1)) [good](https://dps.mo.gov/grants)\n\n<img src=x onerror=alert(1)>"
    )
    assert "<strong>March 1</strong>" in html
    seen = Elements()
    seen.feed(html)
    assert {tag for tag, _ in seen.found} <= {"p", "strong", "a"}
    attributes = {name for _, attrs in seen.found for name, _ in attrs}
    assert attributes <= {"href", "rel"}
    assert [dict(attrs)["href"] for tag, attrs in seen.found if tag == "a"] == ["https://dps.mo.gov/grants"]


class Elements(HTMLParser):
    """Every element the browser would build from an HTML fragment, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def test_email_has_inlined_css_number_date_and_a_tag_for_each_recipients_unsubscribe_link() -> None:
    s = schedule()
    content = digest_content(
        11, s.send_time(11), [item("a", Audience(statewide=True))], archive_link="http://h/d/11"
    )
    assert content.email is not None
    assert "Issue 11" in content.email.html and "13 March 2026" in content.email.html
    assert "<style" not in content.email.html and 'style="' in content.email.html
    assert "-unsubscribe_link-" in content.email.html and "-unsubscribe_link-" in content.email.text


def test_officials_with_the_same_items_share_an_edition() -> None:
    officials = [o for o in parse_registry(generate_registry(300, seed=3)) if o.active]
    regions = sorted({o.region for o in officials})
    items = [item("all", Audience(statewide=True))] + [
        item(f"r{n}", Audience(regions=(region,)), n + 1) for n, region in enumerate(regions)
    ]
    groups = editions(items, officials, unsubscribed=frozenset(), suppressed=frozenset())
    assert len(groups) == len(regions)
    for group in groups:
        assert group.item_ids[0] == "all" and len(group.item_ids) == 2
    left = officials[0]
    fewer = editions(items, officials, unsubscribed=frozenset({left.id}), suppressed=frozenset())
    assert left.id not in {i for g in fewer for i in g.official_ids}


def test_nobody_approves_their_own_change() -> None:
    record = IssueRecord(number=3, version=2, changed_by="ed-a")
    items = [item("a", Audience(statewide=True))]
    assert approval_problem(record, "ed-a", items) is not None
    assert approval_problem(record, "ed-b", items) is None
    assert approval_problem(record, "ed-b", []) is not None


def test_unsubscribe_tokens_are_signed_per_official_and_list() -> None:
    secret = b"k" * 32
    token = make_list_token(secret, MailingList.DIGEST, "MO-1")
    assert read_list_token(secret, token) == (MailingList.DIGEST, "MO-1")
    for bad in (token + "x", token[:-2], "nope", token.replace(".", "!")):
        with pytest.raises(TokenError):
            read_list_token(secret, bad)
    with pytest.raises(TokenError):
        read_list_token(b"other" * 8, token)


def test_sendgrid_events_classified() -> None:
    assert classify_event("spamreport", "") is ProblemKind.SPAM
    assert classify_event("bounce", "bounce") is ProblemKind.BOUNCE
    assert classify_event("bounce", "blocked") is ProblemKind.SOFT
    assert classify_event("deferred", "") is ProblemKind.SOFT
    assert classify_event("delivered", "") is None


def test_test_send_addresses() -> None:
    assert parse_test_addresses({"to": ["A@Example.org"]}) == ["a@example.org"]
    for bad in ({"to": []}, {"to": ["x"] * 6}, {"to": ["not-an-address"]}, {"to": "a@b.org"}, {"cc": 1}):
        with pytest.raises(DigestValidationError):
            parse_test_addresses(bad)
