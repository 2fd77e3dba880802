"""The operator console over HTTP, as a browser without JavaScript uses it: sign-in (argon2 passwords,
session cookie flags, CSRF, failures that slow down per account, `senders unlock`), what each role may
reach, and an alert composed from a template, reviewed and sent, checked at the simulators."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store import keys as k
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

DB = 12
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start_stack(
        redis_server, tmp_path_factory.mktemp("console-data"), db=DB, ALERTNET_CONSOLE_MAX_WAIT_SECONDS="60"
    )
    yield started
    stop_stack(started)


@pytest.fixture(scope="module")
def officials(hub: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[Official]:
    text = generate_registry(60, seed=11)
    path: Path = tmp_path_factory.mktemp("console-registry") / "registry.csv"
    path.write_text(text)
    assert hub.import_contacts(path).returncode == 0
    return [o for o in parse_registry(text) if o.active]


def add_user(hub: Stack, name: str, role: str, password: str = PASSWORD) -> None:
    result = hub.cli("senders", "add", name, "--role", role, "--password", input_text=password + "\n")
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(hub: Stack, name: str, password: str = PASSWORD) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    page = browser.get(f"{hub.api}/console/sign-in", timeout=30)
    form = {"csrf": csrf_of(page.text), "name": name, "password": password}
    return browser, browser.post(f"{hub.api}/console/sign-in", data=form, timeout=30)


def audit_actions(hub: Stack, actor: str) -> list[tuple[str, str]]:
    return [(e["action"], e["outcome"]) for e in hub.audit_entries() if e.get("actor") == actor]


def test_sign_in_sets_a_strict_session_cookie_and_every_form_needs_its_token(hub: Stack) -> None:
    add_user(hub, "dir-ada", "director")
    anonymous = requests.get(f"{hub.api}/console/", allow_redirects=False, timeout=30)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == "/console/sign-in"
    forged = requests.post(
        f"{hub.api}/console/sign-in", data={"name": "dir-ada", "password": PASSWORD}, timeout=30
    )
    assert forged.status_code == 403  # no CSRF token: nothing was even checked
    browser, response = sign_in(hub, "dir-ada")
    assert response.status_code == 200 and response.url.endswith("/console/")
    cookie = next(h for h in response.history[0].raw.headers.getlist("Set-Cookie") if "an_console" in h)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "dir-ada (director)" in response.text
    token = csrf_of(response.text)
    assert browser.post(f"{hub.api}/console/sign-out", data={"csrf": "wrong"}, timeout=30).status_code == 403
    out = browser.post(f"{hub.api}/console/sign-out", data={"csrf": token}, allow_redirects=False, timeout=30)
    assert out.status_code == 303
    after = browser.get(f"{hub.api}/console/", allow_redirects=False, timeout=30)
    assert after.status_code == 303  # the session is gone at the server, not only the cookie
    assert ("console_sign_in", "accepted") in audit_actions(hub, "dir-ada")


def test_failures_slow_the_account_down_and_unlock_clears_it(hub: Stack) -> None:
    add_user(hub, "dir-bo", "director")
    codes = [sign_in(hub, "dir-bo", "wrong password!!")[1].status_code for _ in range(5)]
    assert codes == [401] * 5  # free tries; from now on each try waits, doubling
    refused = sign_in(hub, "dir-bo")[1]  # the right password must wait too
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert ("console_sign_in", "throttled") in audit_actions(hub, "dir-bo")
    assert sign_in(hub, "dir-cy-unknown", "whatever")[1].status_code == 401  # other accounts still work
    unlocked = hub.cli("senders", "unlock", "dir-bo")
    assert unlocked.returncode == 0, unlocked.stderr
    assert sign_in(hub, "dir-bo")[1].status_code == 200
    assert hub.cli("senders", "unlock", "nobody-here").returncode == 1


def test_a_short_password_creates_nothing(hub: Stack) -> None:
    result = hub.cli("senders", "add", "dir-short", "--role", "director", "--password", input_text="short\n")
    assert result.returncode == 1 and "password" in result.stderr
    assert sign_in(hub, "dir-short", "short")[1].status_code == 401


def test_an_editor_cannot_reach_the_composer(hub: Stack) -> None:
    add_user(hub, "ed-eve", "editor")
    browser, home = sign_in(hub, "ed-eve")
    assert home.status_code == 200 and "New alert" not in home.text
    assert browser.get(f"{hub.api}/console/alerts/new", timeout=30).status_code == 403
    posted = browser.post(
        f"{hub.api}/console/drafts", data={"csrf": csrf_of(home.text), "status": "Exercise"}, timeout=30
    )
    assert posted.status_code == 403
    assert ("console_compose", "forbidden") in audit_actions(hub, "ed-eve")
    assert ("console_draft", "forbidden") in audit_actions(hub, "ed-eve")


def compose(hub: Stack, browser: requests.Session, csrf: str, status: str, district: str) -> str:
    draft = browser.post(f"{hub.api}/console/drafts", data={"csrf": csrf, "status": status}, timeout=30)
    assert draft.status_code == 200, draft.text[:300]
    base = draft.url
    form = {"csrf": csrf, "template": "lockdown", "action": "template", "audience_kind": "districts"}
    filled = browser.post(base, data={**form, "audience_values": district}, timeout=30)
    assert 'value="Lockdown"' in filled.text  # the template filled the event
    fields = re.findall(r'<input name="(event|headline)"[^>]*value="([^"]*)"', filled.text)
    data = {**form, **dict(fields), "action": "review", "audience_values": district}
    data.update(severity="Extreme", urgency="Immediate", certainty="Observed")
    review = browser.post(base, data={**data, "channels": ["sms"]}, timeout=30)
    assert review.status_code == 200 and review.url == base + "/review", review.text[:500]
    return base


def test_an_exercise_and_an_actual_alert_composed_reviewed_and_sent_once(
    hub: Stack, officials: list[Official]
) -> None:
    add_user(hub, "dir-dee", "director")
    browser, home = sign_in(hub, "dir-dee")
    csrf = csrf_of(home.text)
    district = officials[0].district
    reached = {o.mobile for o in officials if o.district == district and o.mobile}
    since = time.time()
    base = compose(hub, browser, csrf, "Exercise", district)
    review = browser.get(base + "/review", timeout=30)
    assert "EXERCISE: this is a drill" in review.text and "1 segment" in review.text
    assert f">{len(reached)}</span> by SMS" in review.text
    sent = browser.post(base + "/send", data={"csrf": csrf}, timeout=30)
    assert sent.status_code == 200 and "/console/alerts/" in sent.url
    again = browser.post(base + "/send", data={"csrf": csrf}, timeout=30)
    assert again.url == sent.url  # a second click shows the same alert and sends nothing
    # As a process that died between sending and marking the draft sent leaves it: the draft's own key
    # finds the alert, and nothing is sent again (the SMS are counted below).
    store, key = redis.Redis.from_url(hub.settings.redis_url), k.CONSOLE_DRAFT + base.rsplit("/", 1)[-1]
    store.set(key, json.dumps({**json.loads(store.get(key) or "{}"), "alert_id": ""}))
    store.close()
    assert browser.post(base + "/send", data={"csrf": csrf}, timeout=30).url == sent.url
    deadline = time.monotonic() + 30
    while len(got := hub.sim_messages("sms", since=since)) < len(reached) and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(1.0)
    got = hub.sim_messages("sms", since=since)
    assert sorted(m["to"] for m in got) == sorted(reached)
    assert all(m["body"].startswith("EXERCISE") for m in got)
    report = browser.get(sent.url + "/report?format=csv", timeout=30)
    assert report.status_code == 200 and report.headers["Content-Type"].startswith("text/csv")
    row = next(line for line in report.text.splitlines() if line.startswith(f"{district},sms,"))
    assert row.split(",")[2] == str(len(reached))  # sent to every mobile in the district
    assert "timeline,100% delivered," in report.text

    since = time.time()
    live = compose(hub, browser, csrf, "Actual", district)
    unconfirmed = browser.post(live + "/send", data={"csrf": csrf, "confirm": "lockdwn"}, timeout=30)
    assert unconfirmed.status_code == 409 and "type the event name" in unconfirmed.text
    time.sleep(1.0)
    assert hub.sim_messages("sms", since=since) == []  # nothing went out
    sent = browser.post(live + "/send", data={"csrf": csrf, "confirm": " lockdown "}, timeout=30)
    assert sent.status_code == 200 and "ACTUAL" in sent.text
    deadline = time.monotonic() + 30
    while len(hub.sim_messages("sms", since=since)) < len(reached) and time.monotonic() < deadline:
        time.sleep(0.3)
    got = hub.sim_messages("sms", since=since)
    assert sorted(m["to"] for m in got) == sorted(reached)
    assert not any("EXERCISE" in m["body"] for m in got)

    # The prepared correction: one click cancels it for everyone it reached; a second click sends nothing.
    since = time.time()
    token = csrf_of(sent.text)
    cancel = re.search(r'action="(/console/alerts/[0-9A-Z]{26}/cancel)"', sent.text)
    assert cancel is not None
    cancelled = browser.post(f"{hub.api}{cancel.group(1)}", data={"csrf": token}, timeout=30)
    assert cancelled.status_code == 200 and "CANCELLED:</span> Lockdown" in cancelled.text
    twice = browser.post(f"{hub.api}{cancel.group(1)}", data={"csrf": token}, timeout=30)
    assert twice.status_code == 409
    got = hub.settled_sms(since, len(reached))
    assert sorted(m["to"] for m in got) == sorted(reached) and all("CANCEL" in m["body"] for m in got)


def test_a_director_adds_a_console_user_who_can_sign_in_and_sees_only_their_lane(hub: Stack) -> None:
    add_user(hub, "dir-fay", "director")
    browser, home = sign_in(hub, "dir-fay")
    csrf = csrf_of(home.text)
    short = {"csrf": csrf, "name": "ed-gil", "role": "editor", "password": "short"}
    refused = browser.post(f"{hub.api}/console/people", data=short, timeout=30)
    assert refused.status_code == 422 and "password" in refused.text
    added = browser.post(f"{hub.api}/console/people", data={**short, "password": PASSWORD}, timeout=30)
    assert added.status_code == 200 and re.search(r"an_[A-Za-z0-9_-]{20,}", added.text)
    editor, editor_home = sign_in(hub, "ed-gil")
    assert editor_home.status_code == 200 and "ed-gil (editor)" in editor_home.text
    assert editor.get(f"{hub.api}/console/people", timeout=30).status_code == 403
    assert ("senders_read", "forbidden") in audit_actions(hub, "ed-gil")
    assert ("sender_add", "accepted") in audit_actions(hub, "dir-fay")


def test_an_update_is_prefilled_from_the_alert_keeps_its_status_and_reaches_the_same_people(
    hub: Stack, officials: list[Official]
) -> None:
    add_user(hub, "dir-uma", "director")
    browser, home = sign_in(hub, "dir-uma")
    csrf = csrf_of(home.text)
    district = officials[1].district
    reached = {o.mobile for o in officials if o.district == district and o.mobile}
    since = time.time()
    base = compose(hub, browser, csrf, "Exercise", district)
    sent = browser.post(base + "/send", data={"csrf": csrf}, timeout=30)
    assert sent.status_code == 200
    hub.settled_sms(since, len(reached))
    alert_id = sent.url.rsplit("/", 1)[1]

    draft = browser.post(f"{hub.api}/console/alerts/{alert_id}/update", data={"csrf": csrf}, timeout=30)
    assert draft.status_code == 200 and "/console/drafts/" in draft.url
    assert "EXERCISE" in draft.text and f'An update of <a href="/console/alerts/{alert_id}">' in draft.text
    assert 'value="Lockdown"' in draft.text and f">{district}</textarea>" in draft.text  # pre-filled
    fields = dict(re.findall(r'<input name="(event|headline)"[^>]*value="([^"]*)"', draft.text))
    form = {"csrf": csrf, "action": "review", "audience_kind": "districts", "audience_values": district}
    form.update(fields, headline="Lockdown continues: stay inside", severity="Severe")
    form.update(urgency="Immediate", certainty="Observed", channels=["sms"])
    review = browser.post(draft.url, data=form, timeout=30)
    assert review.url == draft.url + "/review", review.text[:500]
    since = time.time()
    update = browser.post(draft.url + "/send", data={"csrf": csrf}, timeout=30)
    assert update.status_code == 200 and "EXERCISE" in update.text
    got = hub.settled_sms(since, len(reached))
    assert sorted(m["to"] for m in got) == sorted(reached)
    assert all(m["body"].startswith("EXERCISE") and "stay inside" in m["body"] for m in got)
    token = hub.add_sender("viewer-uma", "viewer")
    record = hub.status(token, update.url.rsplit("/", 1)[1])["alert"]
    assert record["msgType"] == "Update" and record["references"] == [alert_id]
    assert record["status"] == "Exercise"

    # Once the alert is cleared, there is nothing left to update.
    cleared = browser.post(f"{hub.api}/console/alerts/{alert_id}/all-clear", data={"csrf": csrf}, timeout=30)
    assert cleared.status_code == 200
    late = browser.post(f"{hub.api}/console/alerts/{alert_id}/update", data={"csrf": csrf}, timeout=30)
    assert late.status_code == 409 and "closed" in late.text


def test_the_live_view_shows_escalation_steps_due_and_replies_from_those_reached(
    hub: Stack, officials: list[Official]
) -> None:
    add_user(hub, "dir-liv", "director")
    browser, home = sign_in(hub, "dir-liv")
    csrf = csrf_of(home.text)
    district = officials[2].district
    here = [o for o in officials if o.district == district and o.mobile]
    elsewhere = next(o for o in officials if o.district != district and o.mobile)
    since = time.time()
    base = compose(hub, browser, csrf, "Exercise", district)
    sent = browser.post(base + "/send", data={"csrf": csrf}, timeout=30)
    assert sent.status_code == 200
    hub.settled_sms(since, len(here))
    # The exercise policy's two steps (config/escalation.toml) are both still due.
    steps = re.findall(r'<tr class="(done|due)" data-wave="(\d)">', sent.text)
    assert steps == [("due", "1"), ("due", "2")], sent.text[:2000]
    assert len(re.findall(r"due in [0-2] min \d+ s", sent.text)) == 2

    said = "Buses are still outside, what do we do with them"
    hub_number = hub.settings.twilio.sms_from[0]
    for official in (here[0], elsewhere):
        text = {"from": official.mobile, "body": said, "to": hub_number}
        replied = requests.post(f"{hub.sim}/sim/reply", json=text, timeout=30)
        assert replied.status_code == 200, replied.text
    page = browser.get(sent.url, timeout=30).text
    replies = page[page.index('data-testid="replies"') :]
    assert f"<strong>{here[0].name}</strong>: {said}" in replies
    assert elsewhere.name not in replies  # not reached by this alert: not a reply to it
    # The live stream carries the same fragment.
    with browser.get(sent.url + "/events", stream=True, timeout=30) as stream:
        first = ""
        for chunk in stream.iter_content(chunk_size=None, decode_unicode=True):
            first += chunk.replace("\r\n", "\n")  # aiohttp-sse ends its lines with CRLF
            if "\n\n" in first:
                break
    assert "Escalation" in first and said in first


def test_many_views_of_one_alert_cost_the_store_what_one_does(
    hub: Stack, officials: list[Official], redis_server: RedisProcess
) -> None:
    """Eight tabs on one alert's live view: every tab gets the figures, and the API reads them from Redis
    about once a second in all (views that ask while a read is under way wait for it), counted by Redis
    itself (MONITOR) as the acknowledgement counts each read takes. Without the shared read, each tab
    read them every second."""
    add_user(hub, "dir-many", "director")
    browser, home = sign_in(hub, "dir-many")
    csrf = csrf_of(home.text)
    sent = browser.post(
        compose(hub, browser, csrf, "Exercise", officials[4].district) + "/send", data={"csrf": csrf}
    )
    assert sent.status_code == 200
    alert_id = sent.url.rstrip("/").split("/")[-1]
    received = [0] * 8
    stop = threading.Event()

    def follow(n: int) -> None:
        with browser.get(sent.url + "/events", stream=True, timeout=30) as stream:
            for chunk in stream.iter_content(chunk_size=None):
                received[n] += chunk.count(b"event: progress")
                if stop.is_set():
                    return

    tabs = [threading.Thread(target=follow, args=(n,), daemon=True) for n in range(8)]
    for tab in tabs:
        tab.start()
    opened = time.monotonic() + 30
    while min(received) < 1 and time.monotonic() < opened:  # every tab open and shown the figures
        time.sleep(0.1)
    reads, seconds = 0, 5.0
    client = redis.Redis(port=redis_server.port, db=DB)
    with client.monitor() as monitor:
        deadline = time.monotonic() + seconds
        for command in monitor.listen():
            if f"HLEN an:acks:{alert_id}" in str(command["command"]):
                reads += 1
            if time.monotonic() > deadline:
                break
    stop.set()
    for tab in tabs:
        tab.join(timeout=30)
    assert min(received) >= 4, received  # each tab had its updates (the escalation countdown moves)
    # One read a second in each API process for all the tabs it serves (eight tabs: up to 40 in all).
    assert 1 <= reads <= hub.settings.api.processes * (seconds + 1), reads
