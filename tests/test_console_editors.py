"""The console's editor of the weekly update and its cyber bulletin form, over HTTP as a browser without
JavaScript uses them (and once in a real Chromium at a phone's width): two editors assemble an issue,
preview it as an official, send a test and approve it (never the last editor to change it); a publisher
checks the recipients a TLP:AMBER+STRICT label implies, then publishes, and the SendGrid simulator shows
who got it; each role is refused the page that is not theirs, at the server."""

from __future__ import annotations

import html
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.server import RedisProcess
from tests import test_console_browser as ui
from tests.conftest import Stack, start_stack, stop_stack
from tests.test_console import add_user, csrf_of, sign_in

DB = 17


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The digest cut-off is its send moment here (see tests/test_digest_e2e.py), whatever the hour.
    started = start_stack(
        redis_server,
        tmp_path_factory.mktemp("console-editors"),
        db=DB,
        ALERTNET_DIGEST_CUTOFF_DAY="friday",
        ALERTNET_DIGEST_CUTOFF_TIME="10:00",
    )
    yield started
    stop_stack(started)


@pytest.fixture(scope="module")
def officials(hub: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[Official]:
    text = generate_registry(160, seed=31)
    path: Path = tmp_path_factory.mktemp("console-editors-registry") / "registry.csv"
    path.write_text(text)
    result = hub.import_contacts(path)
    assert result.returncode == 0, result.stderr
    return [o for o in parse_registry(text) if o.active]


def cyber_district(officials: list[Official]) -> str:
    """A district with several officials who take cyber bulletins by email."""
    counts = Counter(o.district for o in officials if Subscription.CYBER in o.subscriptions and o.email)
    return next(d for d, n in counts.most_common() if n >= 2)


def post(browser: requests.Session, hub: Stack, path: str, **data: Any) -> requests.Response:
    return browser.post(f"{hub.api}{path}", data=data, timeout=60)


def settle(read: Any, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """What `read()` returns once it has `count` entries, and a second later (so extras would show)."""
    deadline = time.monotonic() + timeout
    while len(read()) < count and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(1.0)
    found: list[dict[str, Any]] = read()
    return found


def test_two_editors_assemble_preview_test_and_approve_an_issue(
    hub: Stack, officials: list[Official]
) -> None:
    add_user(hub, "ed-one", "editor")
    add_user(hub, "ed-two", "editor")
    one, home = sign_in(hub, "ed-one")
    assert 'href="/console/digest"' in home.text and "/console/bulletins/new" not in home.text
    two, home_two = sign_in(hub, "ed-two")
    csrf1, csrf2 = csrf_of(home.text), csrf_of(home_two.text)
    page = one.get(f"{hub.api}/console/digest", timeout=60)
    assert page.status_code == 200 and "No items yet." in page.text
    number = re.search(r'data-testid="issue-number">(\d+)<', page.text)
    assert number is not None

    item = {"category": "grants", "audience_kind": "statewide", "body": "Apply by **Friday**."}
    bad = post(one, hub, "/console/digest/items", csrf=csrf1, title="Grant", link="ftp://x", **item)
    assert bad.status_code == 422 and 'data-testid="error-link"' in bad.text
    assert 'value="Grant"' in bad.text  # the form as typed, to fix
    added = post(one, hub, "/console/digest/items", csrf=csrf1, title="Safety grant <deadline>", **item)
    assert added.status_code == 200 and added.url.endswith("/console/digest")
    assert "Safety grant &lt;deadline&gt;" in added.text  # escaped, never markup
    district = cyber_district(officials)
    local = {
        "title": "Drill week in one district",
        "body": "Fire drills all week.",
        "category": "drills",
        "audience_kind": "districts",
        "audience_values": district,
    }
    assert post(two, hub, "/console/digest/items", csrf=csrf2, **local).status_code == 200
    unknown = post(
        two, hub, "/console/digest/items", csrf=csrf2, **{**local, "audience_values": "Nowhere R-0"}
    )
    assert unknown.status_code == 422 and 'data-testid="error-audience"' in unknown.text
    extra = post(one, hub, "/console/digest/items", csrf=csrf1, title="Posted by mistake", **item)
    withdraw = re.search(r'action="(/console/digest/items/[^"]+/withdraw)"[^<]*<input[^>]*>\s*<button[^>]*>'
                         r'Withdraw "Posted by mistake', extra.text)  # fmt: skip
    assert withdraw is not None, extra.text
    after = post(one, hub, withdraw.group(1), csrf=csrf1)
    assert after.status_code == 200 and "Posted by mistake" not in after.text
    assert after.text.count('data-testid="item"') == 2

    reader = next(
        o for o in officials if o.district == district and Subscription.DIGEST in o.subscriptions and o.email
    )
    shown = one.get(f"{hub.api}/console/digest/preview", params={"official": reader.id}, timeout=60)
    assert shown.status_code == 200 and f"{reader.id} receives this issue (2 items)" in shown.text
    frame = re.search(r'<iframe[^>]*\bsandbox srcdoc="([^"]*)"', shown.text)
    assert frame is not None  # the preview in a sandbox: no scripts, no same origin
    assert "Drill week in one district" in html.unescape(frame.group(1))
    missing = one.get(f"{hub.api}/console/digest/preview", params={"official": "no.such"}, timeout=60)
    assert missing.status_code == 404 and "no official" in missing.text

    since = time.time()
    too_many = "\n".join(f"t{n}@dps.example.gov" for n in range(6))
    refused = post(one, hub, "/console/digest/test", csrf=csrf1, to=too_many)
    assert refused.status_code == 422 and "1 to 5" in refused.text
    tested = post(one, hub, "/console/digest/test", csrf=csrf1, to="ed-one@dps.example.gov")
    assert tested.status_code == 200 and "Test sent to ed-one@dps.example.gov" in tested.text
    got = settle(lambda: hub.sim_messages("email", since, to="ed-one@dps.example.gov"), 1)
    assert len(got) == 1 and got[0]["subject"].startswith("[TEST] ")
    assert f"issue {number.group(1)} (" in got[0]["subject"]

    own = post(one, hub, "/console/digest/approve", csrf=csrf1, issue=number.group(1))
    assert own.status_code == 409 and "&#39;ed-one&#39; made the last change" in own.text
    approved = post(two, hub, "/console/digest/approve", csrf=csrf2, issue=number.group(1))
    assert approved.status_code == 200 and "Approved by ed-two" in approved.text
    assert post(one, hub, "/console/digest/approve", issue="x").status_code == 403  # no CSRF token


def test_a_publisher_checks_who_an_amber_strict_label_reaches_then_publishes(
    hub: Stack, officials: list[Official]
) -> None:
    add_user(hub, "pub-one", "cyber_publisher")
    browser, home = sign_in(hub, "pub-one")
    assert 'href="/console/bulletins/new"' in home.text and 'href="/console/digest"' not in home.text
    csrf = csrf_of(home.text)
    form = browser.get(f"{hub.api}/console/bulletins/new", timeout=60)
    assert form.status_code == 200 and all(
        f'<option value="{label}"' in form.text
        for label in ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")
    )
    district = cyber_district(officials)
    title = "Payroll phishing in one district (console)"
    fields = {
        "csrf": csrf,
        "title": title,
        "summary": "Credential phishing aimed at payroll staff.",
        "body": "Block the domain and **reset** exposed passwords.",
        "severity": "high",
        "organizations": district,
        "actions": "Block the domain\nReset passwords",
    }
    no_label = post(browser, hub, "/console/bulletins/check", **fields)
    assert no_label.status_code == 422 and 'data-testid="error-tlp"' in no_label.text
    red = post(browser, hub, "/console/bulletins/check", **fields, tlp="TLP:RED")
    assert red.status_code == 422 and 'data-testid="error-officials"' in red.text
    checked = post(browser, hub, "/console/bulletins/check", **fields, tlp="TLP:AMBER+STRICT")
    assert checked.status_code == 200, checked.text[:500]
    allowed = [o for o in officials if Subscription.CYBER in o.subscriptions and o.district == district]
    emailed = sorted((o.email or "").lower() for o in allowed if o.email)
    texted = sorted(o.mobile for o in allowed if o.role is Role.CYBERSECURITY_COORDINATOR and o.mobile)
    label = re.search(r'<span class="tlp big" style="([^"]+)" data-testid="check-tlp">([^<]+)<', checked.text)
    assert label is not None and label.group(2) == "TLP:AMBER+STRICT"
    assert label.group(1) == "color: #FFC000; background: #000000"
    assert "Goes at once" in checked.text
    assert f'data-testid="check-email">{len(emailed)}<' in checked.text
    assert f'data-testid="check-sms">{len(texted)}<' in checked.text
    assert "a short notice to the cybersecurity coordinators" in checked.text
    fingerprint = re.search(r'name="checked" value="([0-9a-f]{64})"', checked.text)
    assert fingerprint is not None

    since = time.time()
    changed = {**fields, "tlp": "TLP:AMBER+STRICT", "checked": fingerprint.group(1), "title": title + "!"}
    stale = post(browser, hub, "/console/bulletins", **changed)
    assert stale.status_code == 409 and "changed after its recipients were checked" in stale.text
    published = post(
        browser, hub, "/console/bulletins", **fields, tlp="TLP:AMBER+STRICT", checked=fingerprint.group(1)
    )
    assert published.status_code == 200 and "?published=bul_" in published.url
    assert 'data-testid="published"' in published.text and "sent now" in published.text
    got = settle(lambda: [m for m in hub.sim_messages("email", since) if title in str(m["subject"])], 1)
    assert sorted(m["to"].lower() for m in got) == emailed  # only the district's cyber subscribers
    assert all(m["subject"].startswith("[TLP:AMBER+STRICT] ") for m in got)
    assert not any(title + "!" in str(m["subject"]) for m in hub.sim_messages("email", since))


def test_each_role_is_refused_the_page_that_is_not_theirs(hub: Stack, officials: list[Official]) -> None:
    for name, role in (("ed-three", "editor"), ("pub-two", "cyber_publisher"), ("vi-one", "viewer")):
        add_user(hub, name, role)
    add_user(hub, "dir-one", "director")
    refused = {
        "ed-three": ["/console/bulletins/new"],
        "pub-two": ["/console/digest"],
        "vi-one": ["/console/digest", "/console/bulletins/new"],
    }
    for name, paths in refused.items():
        browser, home = sign_in(hub, name)
        csrf = csrf_of(home.text)
        for path in paths:
            page = browser.get(f"{hub.api}{path}", timeout=60)
            assert page.status_code == 403 and "may not" in page.text, (name, path)
        if "/console/digest" in paths:
            item = {"title": "x", "body": "y", "category": "news", "audience_kind": "statewide"}
            assert post(browser, hub, "/console/digest/items", csrf=csrf, **item).status_code == 403
            assert post(browser, hub, "/console/digest/approve", csrf=csrf).status_code == 403
            assert post(browser, hub, "/console/digest/test", csrf=csrf, to="a@b.example").status_code == 403
        if "/console/bulletins/new" in paths:
            body = {"title": "x", "summary": "y", "body": "z", "tlp": "TLP:CLEAR", "severity": "low"}
            assert post(browser, hub, "/console/bulletins/check", csrf=csrf, **body).status_code == 403
            assert post(browser, hub, "/console/bulletins", csrf=csrf, **body).status_code == 403
    director, home = sign_in(hub, "dir-one")
    assert 'href="/console/digest"' in home.text and 'href="/console/bulletins/new"' in home.text
    assert director.get(f"{hub.api}/console/digest", timeout=60).status_code == 200
    assert director.get(f"{hub.api}/console/bulletins/new", timeout=60).status_code == 200
    anonymous = requests.get(f"{hub.api}/console/digest", allow_redirects=False, timeout=60)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == "/console/sign-in"


@pytest.mark.browser
def test_the_bulletin_form_and_the_editor_work_on_a_phone(hub: Stack, officials: list[Official]) -> None:
    if ui.CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    district = cyber_district(officials)
    ui.user(hub, "pub-phone", "cyber_publisher")
    ui.user(hub, "ed-phone", "editor")
    found: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=ui.CHROMIUM, args=ui.ARGS)
        page = ui.signed_in(hub, browser, "pub-phone", width=375)
        page.get_by_test_id("lane-bulletins").click()
        page.get_by_test_id("tlp").select_option("TLP:AMBER")
        page.get_by_test_id("severity").select_option("medium")
        page.get_by_test_id("title").fill("Scanning of district VPNs")
        page.get_by_test_id("summary").fill("Repeated VPN log-in attempts from one network.")
        page.get_by_test_id("body").fill("Check the VPN logs for **failed** log-ins.")
        page.get_by_test_id("organizations").fill(district)
        page.get_by_test_id("check-recipients").click()
        tlp = page.get_by_test_id("check-tlp")
        assert tlp.inner_text() == "TLP:AMBER"
        assert tlp.evaluate("e => getComputedStyle(e).color") == "rgb(255, 192, 0)"
        assert tlp.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(0, 0, 0)"
        assert "Goes at once" in page.get_by_test_id("check-route").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
        ui.shot(page, "console-editors-1-bulletin-check")
        found["bulletin check"] = ui.serious_violations(page) if ui.AXE.exists() else []
        page.get_by_test_id("publish").click()
        assert "sent now" in page.get_by_test_id("published").inner_text()
        ui.shot(page, "console-editors-2-bulletin-published")
        page.close()

        page = ui.signed_in(hub, browser, "ed-phone", width=375)
        page.get_by_test_id("lane-digest").click()
        page.get_by_test_id("item-title").fill("Training on reunification")
        page.get_by_test_id("item-body").fill("Sign up for the **regional** session.")
        page.get_by_test_id("item-category").select_option("training")
        page.get_by_test_id("add-item").click()
        reader = next(o for o in officials if Subscription.DIGEST in o.subscriptions and o.email)
        page.get_by_test_id("preview-official").fill(reader.id)
        page.get_by_test_id("preview").click()
        frame = page.frame_locator("[data-testid=preview-html]")
        assert "Training on reunification" in frame.locator("body").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        ui.shot(page, "console-editors-3-digest-preview")
        found["digest preview"] = ui.serious_violations(page) if ui.AXE.exists() else []
        page.close()
        browser.close()
    assert {name: v for name, v in found.items() if v} == {}
