"""The alert page and the email acknowledgement page, in a real browser (Debian's Chromium)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from tests.conftest import Stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)"
    ),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Any:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def officials(stack: Stack, tmp_path: Path) -> list[Official]:
    text = generate_registry(12, seed=5)
    path = tmp_path / "registry.csv"
    path.write_text(text)
    assert stack.import_contacts(path).returncode == 0
    return parse_registry(text)


def test_alert_page_shows_the_alert_and_its_verification(
    stack: Stack, officials: list[Official], browser: Any, tmp_path: Path
) -> None:
    director = stack.add_sender("browser-director", "director")
    body = {
        "status": "Exercise",
        "msgType": "Alert",
        "severity": "Severe",
        "urgency": "Immediate",
        "certainty": "Likely",
        "event": "Shelter in Place",
        "headline": "Tornado warning <drill>",
        "description": "Move to interior rooms.",
        "instruction": "Stay away from windows.",
        "audience": {"statewide": True},
        "channels": ["sms"],
    }
    accepted = stack.post_alert(director, body).json()
    page = browser.new_page()
    page.goto(accepted["links"]["page"])
    assert page.get_by_test_id("event").inner_text() == "Shelter in Place"
    assert page.get_by_test_id("headline").inner_text() == "Tornado warning <drill>"  # escaped, not markup
    assert "EXERCISE" in page.get_by_test_id("marker").inner_text()
    assert "Signature verified" in page.get_by_test_id("verification").inner_text()
    assert page.get_by_test_id("code").inner_text() == accepted["verification_code"]
    page.screenshot(path=str(tmp_path / "alert-page.png"))
    page.close()


def test_email_ack_link_acknowledges_only_on_the_button(
    stack: Stack, officials: list[Official], browser: Any
) -> None:
    director = stack.add_sender("browser-director2", "director")
    since = time.time()
    body = {
        "status": "Actual",
        "msgType": "Alert",
        "severity": "Moderate",
        "urgency": "Expected",
        "certainty": "Likely",
        "event": "Bomb Threat",
        "headline": "Bomb threat received by district office",
        "audience": {"statewide": True},
        "channels": ["email"],
    }
    accepted = stack.post_alert(director, body).json()
    stack.wait_settled(director, accepted["id"])
    mail = next(m for m in stack.sim_messages("email", since) if accepted["id"] in str(m))
    link = next(word for word in mail["html"].split('"') if "/ack/" in word)
    # A mail scanner pre-fetching the link must not acknowledge.
    assert requests.get(link, timeout=10).status_code == 200
    acks = requests.get(
        f"{stack.api}/v1/alerts/{accepted['id']}/acks",
        headers={"Authorization": f"Bearer {director}"},
        timeout=10,
    ).json()
    assert acks["acknowledged"] == []
    page = browser.new_page()
    page.goto(link)
    page.get_by_test_id("acknowledge").click()
    assert page.get_by_test_id("done").inner_text() == "Acknowledged. Thank you."
    page.close()
    acks = requests.get(
        f"{stack.api}/v1/alerts/{accepted['id']}/acks",
        headers={"Authorization": f"Bearer {director}"},
        timeout=10,
    ).json()
    assert [a["channel"] for a in acks["acknowledged"]] == ["email"]
