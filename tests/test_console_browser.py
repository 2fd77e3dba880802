"""The operator console in a real browser (Debian's Chromium, driven by Playwright): a director signs in,
composes an Exercise lockdown for one district from its template, sees the live count, reviews, sends,
and watches the delivery figures and an acknowledgement arrive without reloading; an editor cannot reach
the composer; an Actual alert needs its event name typed. Screenshots go to tests/screenshots/."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SHOTS = Path(__file__).resolve().parent / "screenshots"
PASSWORD = "a long console passphrase"
DB = 14


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start_stack(
        redis_server, tmp_path_factory.mktemp("console-browser"), db=DB, ALERTNET_APPROVAL_THRESHOLD="20"
    )
    yield started
    stop_stack(started)


@pytest.fixture(scope="module")
def officials(hub: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[Official]:
    text = generate_registry(40, seed=3)
    path = tmp_path_factory.mktemp("console-browser-registry") / "registry.csv"
    path.write_text(text)
    assert hub.import_contacts(path).returncode == 0
    return [o for o in parse_registry(text) if o.active]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


def user(hub: Stack, name: str, role: str) -> None:
    added = hub.cli("senders", "add", name, "--role", role, "--password", input_text=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr


def signed_in(hub: Stack, browser: Any, name: str, *, width: int = 1200) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    page.goto(f"{hub.api}/console/")
    page.get_by_test_id("name").fill(name)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{hub.api}/console/")
    return page


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_text(locator: Any, predicate: Any, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = locator.inner_text()
        if predicate(text) or time.monotonic() > deadline:
            return str(text)
        time.sleep(0.3)


def test_a_director_composes_reviews_sends_and_watches_an_exercise(
    hub: Stack, officials: list[Official], browser: Any
) -> None:
    user(hub, "dir-browser", "director")
    page = signed_in(hub, browser, "dir-browser", width=375)  # a phone's width
    district = officials[0].district
    members = [o for o in officials if o.district == district]
    page.get_by_test_id("new-alert").click()
    shot(page, "console-1-choose-status")
    page.get_by_test_id("status-exercise").click()
    assert "EXERCISE" in page.get_by_test_id("banner").first.inner_text()
    page.get_by_test_id("template").select_option("lockdown")
    page.get_by_test_id("use-template").click()
    assert page.get_by_test_id("event").input_value() == "Lockdown"
    page.get_by_test_id("audience-kind").select_option("districts")
    page.get_by_test_id("audience-values").fill(district)
    page.get_by_test_id("channel-voice").uncheck()
    page.get_by_test_id("channel-email").uncheck()
    with_sms = sum(1 for o in members if o.mobile)
    count = wait_text(page.get_by_test_id("count"), lambda t: f"{with_sms} by SMS" in t)
    assert f"{len(members)} officials" in count and f"{with_sms} by SMS" in count  # live, not reloaded
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
    shot(page, "console-2-compose-exercise")
    page.get_by_test_id("review").click()
    assert page.get_by_test_id("sms").inner_text().startswith("EXERCISE")
    assert page.get_by_test_id("sms-segments").inner_text() == "1 segment"
    assert page.get_by_test_id("send").inner_text() == "Send the exercise"
    shot(page, "console-3-review-exercise")
    since = time.time()
    page.get_by_test_id("send").click()
    page.wait_for_url(re.compile(r".*/console/alerts/[0-9A-Z]{26}$"))
    delivered = wait_text(page.get_by_test_id("delivered-sms"), lambda t: t == str(with_sms))
    assert delivered == str(with_sms)  # the figures moved on their own as the simulator answered
    first = next(o for o in members if o.mobile)
    answer = requests.post(f"{hub.sim}/sim/reply", json={"from": first.mobile, "body": "1"}, timeout=10)
    assert "Acknowledged" in answer.json()["body"]
    assert wait_text(page.get_by_test_id("acknowledged"), lambda t: t == "1") == "1"
    shot(page, "console-4-watch-exercise")
    reminded_at = time.time()
    page.get_by_test_id("remind").click()  # the other officials get it again; the one who answered does not
    silent = sorted(o.mobile for o in members if o.mobile and o.id != first.id)
    deadline = time.monotonic() + 30
    while len(hub.sim_messages("sms", since=reminded_at)) < len(silent) and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(1.0)
    assert sorted(m["to"] for m in hub.sim_messages("sms", since=reminded_at)) == silent
    with page.expect_download() as download:
        page.get_by_test_id("acks-csv").click()
    csv_text = Path(download.value.path()).read_text()
    assert first.id in csv_text
    sent = hub.sim_messages("sms", since=since)
    assert len(sent) == with_sms + len(silent)  # the alert once each, and the reminder to the silent
    page.close()


def test_an_actual_alert_looks_different_and_needs_its_event_typed(
    hub: Stack, officials: list[Official], browser: Any
) -> None:
    user(hub, "dir-actual", "director")
    page = signed_in(hub, browser, "dir-actual")
    page.get_by_test_id("new-alert").click()
    page.get_by_test_id("status-actual").click()
    banner = page.get_by_test_id("banner").first
    assert "ACTUAL" in banner.inner_text() and "EXERCISE" not in page.content()
    colour = banner.evaluate("e => getComputedStyle(e).backgroundColor")
    page.get_by_test_id("template").select_option("shelter_in_place")
    page.get_by_test_id("use-template").click()
    page.get_by_test_id("audience-kind").select_option("districts")
    page.get_by_test_id("audience-values").fill(officials[0].district)
    page.get_by_test_id("review").click()
    shot(page, "console-5-review-actual")
    assert page.get_by_test_id("send").inner_text() == "Send the ACTUAL alert"
    page.get_by_test_id("confirm").fill("Shelter")
    page.get_by_test_id("send").click()
    assert "type the event name" in page.get_by_test_id("error").inner_text()
    assert page.url.endswith("/send")  # refused: still on the review
    page.goto(f"{hub.api}/console/alerts/new")
    page.get_by_test_id("status-exercise").click()
    other = page.get_by_test_id("banner").first.evaluate("e => getComputedStyle(e).backgroundImage")
    assert colour == "rgb(185, 28, 28)" and "gradient" in other  # solid red against amber stripes
    page.close()


def test_an_editor_cannot_reach_the_composer(hub: Stack, browser: Any) -> None:
    user(hub, "ed-browser", "editor")
    page = signed_in(hub, browser, "ed-browser")
    assert page.get_by_test_id("new-alert").count() == 0
    response = page.goto(f"{hub.api}/console/alerts/new")
    assert response is not None and response.status == 403
    assert "may not compose alerts" in page.get_by_test_id("error").inner_text()
    shot(page, "console-6-editor-refused")
    page.close()


def test_a_large_actual_alert_waits_for_a_second_director_who_is_not_its_author(
    hub: Stack, officials: list[Official], browser: Any
) -> None:
    user(hub, "dir-first", "director")
    user(hub, "dir-second", "director")
    author = signed_in(hub, browser, "dir-first")
    author.get_by_test_id("new-alert").click()
    author.get_by_test_id("status-actual").click()
    author.get_by_test_id("template").select_option("severe_weather")
    author.get_by_test_id("use-template").click()
    author.get_by_test_id("audience-kind").select_option("statewide")
    author.get_by_test_id("review").click()
    author.get_by_test_id("confirm").fill("severe weather")
    since = time.time()
    author.get_by_test_id("send").click()
    author.wait_for_url(re.compile(r".*/console/alerts/[0-9A-Z]{26}$"))
    alert_id = author.url.rsplit("/", 1)[1]
    assert "Held for a second director" in author.get_by_test_id("approval-state").inner_text()
    assert author.get_by_test_id("approve").count() == 0  # not in the page for its author
    assert "You wrote it" in author.get_by_test_id("own").inner_text()
    shot(author, "console-7-held-for-approval")
    token = hub.add_sender("dir-first", "director")  # the author's API token: refused there too
    refused = requests.post(
        f"{hub.api}/v1/alerts/{alert_id}/approve", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert refused.status_code == 403
    time.sleep(1.0)
    assert hub.sim_messages("sms", since=since) == []  # nothing left while it waits
    second = signed_in(hub, browser, "dir-second")
    second.get_by_test_id("held").get_by_role("link").first.click()
    second.get_by_test_id("approve").click()
    second.wait_for_url(re.compile(f".*/console/alerts/{alert_id}$"))
    with_sms = sum(1 for o in officials if o.mobile)
    assert wait_text(second.get_by_test_id("delivered-sms"), lambda t: t == str(with_sms)) == str(with_sms)
    author.wait_for_selector("[data-testid=delivered-sms]", timeout=15000)  # the author's page moved on
    shot(second, "console-8-approved-and-sent")
    assert len(hub.sim_messages("sms", since=since)) == with_sms
    second.close()
    author.close()


AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ')')"
    )
    return [str(v) for v in found]


@pytest.mark.skipif(
    not AXE.exists() and shutil.which("npm") is None, reason="axe-core needs npm (make test installs it)"
)
def test_the_main_pages_have_no_serious_accessibility_violations(
    hub: Stack, officials: list[Official], browser: Any
) -> None:
    assert AXE.exists(), "run `make browser` (npm ci --prefix tests/axe) first"
    page = browser.new_page(viewport={"width": 375, "height": 800})
    page.goto(f"{hub.api}/console/sign-in")
    found = {"sign-in": serious_violations(page)}
    page.close()
    user(hub, "dir-axe", "director")
    page = signed_in(hub, browser, "dir-axe", width=375)
    found["home"] = serious_violations(page)
    page.get_by_test_id("new-alert").click()
    found["choose status"] = serious_violations(page)
    page.get_by_test_id("status-exercise").click()
    page.get_by_test_id("template").select_option("evacuation")
    page.get_by_test_id("use-template").click()
    page.get_by_test_id("audience-kind").select_option("districts")
    page.get_by_test_id("audience-values").fill(officials[0].district)
    found["compose"] = serious_violations(page)
    page.get_by_test_id("review").click()
    found["review"] = serious_violations(page)
    page.get_by_test_id("send").click()
    page.wait_for_url(re.compile(r".*/console/alerts/[0-9A-Z]{26}$"))
    found["watch"] = serious_violations(page)
    page.close()
    assert {name: v for name, v in found.items() if v} == {}
