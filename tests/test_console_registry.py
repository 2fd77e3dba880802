"""The console's registry page over HTTP (a browser without JavaScript): directors and viewers search
officials (numbers masked) and see failing addresses; a director uploads a registry CSV, reads the row-by-row
report (nothing written), applies a clean file once (audited); other roles are refused at the server. One
check in a real browser (screenshot, axe-core) when Chromium is installed."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from redis.asyncio import Redis

from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.domain.subscriptions import ProblemKind, ProblemThresholds
from alertnet.store import keys as k
from alertnet.store.digest import SubscriptionStore
from alertnet.store.server import RedisProcess
from tests.conftest import Stack, start_stack, stop_stack

DB = 16
PASSWORD = "registry console passphrase"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(__file__).resolve().parent / "screenshots"


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start_stack(redis_server, tmp_path_factory.mktemp("console-registry"), db=DB)
    yield started
    stop_stack(started)


@pytest.fixture(scope="module")
def officials(hub: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[Official]:
    text = generate_registry(40, seed=21)
    path = tmp_path_factory.mktemp("console-registry-csv") / "registry.csv"
    path.write_text(text)
    assert hub.import_contacts(path).returncode == 0
    for name, role in (("dir-reg", "director"), ("dir-two", "director"), ("view-reg", "viewer"),
                       ("ed-reg", "editor"), ("cy-reg", "cyber_publisher")):  # fmt: skip
        added = hub.cli("senders", "add", name, "--role", role, "--password", input_text=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
    return parse_registry(text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(hub: Stack, name: str) -> tuple[requests.Session, str]:
    browser = requests.Session()
    page = browser.get(f"{hub.api}/console/sign-in", timeout=30)
    form = {"csrf": csrf_of(page.text), "name": name, "password": PASSWORD}
    home = browser.post(f"{hub.api}/console/sign-in", data=form, timeout=30)
    assert home.status_code == 200 and home.url.endswith("/console/"), home.text[:300]
    return browser, home.text


def upload(
    hub: Stack,
    browser: requests.Session,
    csrf: str,
    data: bytes,
    *,
    name: str = "registry.csv",
    full: bool = False,
) -> requests.Response:
    form = {"csrf": csrf, **({"full": "1"} if full else {})}
    files = {"file": (name, data, "text/csv")}
    return browser.post(f"{hub.api}/console/registry/upload", data=form, files=files, timeout=60)


def generation(hub: Stack) -> bytes | None:
    conn = redis.Redis.from_url(hub.settings.redis_url)
    try:
        value = conn.get(k.REGISTRY_VERSION)
        return None if value is None else bytes(value)
    finally:
        conn.close()


def audited(hub: Stack, actor: str, action: str) -> list[dict[str, Any]]:
    """The audit entries of one actor's action, oldest first, each with its detail."""
    return [
        {**e, **json.loads(e.get("detail", "{}"))}
        for e in hub.audit_entries()
        if e.get("actor") == actor and e["action"] == action
    ]


def total(html: str) -> int:
    found = re.search(r"The registry holds (\d+) officials", html)
    assert found, html[:500]
    return int(found.group(1))


def with_prefix(text: str, prefix: str) -> str:
    """The generated registry with other ids (backup ids too): every official is new to the registry."""
    return text.replace("mo-", prefix)


def test_a_file_with_bad_rows_is_reported_row_by_row_and_nothing_is_written(
    hub: Stack, officials: list[Official]
) -> None:
    browser, home = sign_in(hub, "dir-reg")
    assert 'href="/console/registry"' in home
    csrf = csrf_of(home)
    lines = with_prefix(generate_registry(30, seed=22), "bad-").splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("role")] = "janitor"
    lines[3] = ",".join(cells)
    cells = lines[7].split(",")
    cells[header.index("mobile")], cells[header.index("email")] = "12", "not-an-address"
    lines[7] = ",".join(cells)
    cells = lines[9].split(",")
    cells[header.index("name")] = "Ren\udce9 Roy"  # a Latin-1 byte in a UTF-8 file
    lines[9] = ",".join(cells)
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    before = generation(hub)

    report = upload(hub, browser, csrf, data, full=True)
    assert report.status_code == 422, report.text[:500]
    assert 'data-testid="apply"' not in report.text
    assert "30 rows read" in report.text and ">27 valid<" in report.text and ">3 refused<" in report.text
    assert re.search(r"<td>4</td><td>role</td><td>&#39;janitor&#39; is not a known role", report.text)
    assert re.search(r"<td>8</td><td>mobile</td><td>&#39;12&#39; is not a valid phone number", report.text)
    assert re.search(
        r"<td>8</td><td>email</td><td>&#39;not-an-address&#39; is not a valid email", report.text
    )
    assert re.search(r"<td>10</td><td>name</td><td>the file is not UTF-8 \(byte 0xe9\)", report.text)
    assert generation(hub) == before  # nothing was imported
    search = browser.get(f"{hub.api}/console/registry", params={"q": "bad-0000"}, timeout=30)
    assert "0 officials match" in search.text

    # The server refuses to apply it too (the upload's id is in the audit trail, not on the page).
    refused = audited(hub, "dir-reg", "contacts_upload")[-1]
    assert refused["outcome"] == "refused" and refused["refused"] == 3
    applied = browser.post(
        f"{hub.api}/console/registry/uploads/{refused['upload']}/apply", data={"csrf": csrf}, timeout=30
    )
    assert applied.status_code == 409 and "nothing can be applied" in applied.text
    assert generation(hub) == before


def test_a_clean_file_shows_what_it_would_do_and_applies_once(hub: Stack, officials: list[Official]) -> None:
    browser, home = sign_in(hub, "dir-reg")
    csrf = csrf_of(home)
    text = with_prefix(generate_registry(25, seed=23), "new-")
    active = sum(1 for o in officials if o.active)
    registry = browser.get(f"{hub.api}/console/registry", timeout=30)
    before = total(registry.text)

    full = upload(hub, browser, csrf, text.encode(), full=True)  # only read: what a full import would do
    assert full.status_code == 200, full.text[:500]
    assert 'data-testid="deactivated">' + str(active) + "<" in full.text

    report = upload(hub, browser, csrf, text.encode())
    assert report.status_code == 200 and "25 rows read" in report.text and ">0 refused<" in report.text
    assert 'data-testid="added">25<' in report.text and 'data-testid="deactivated">0<' in report.text
    apply = re.search(r'action="(/console/registry/uploads/r_[0-9a-f]{32}/apply)"', report.text)
    assert apply is not None
    assert "0 officials match" in browser.get(f"{hub.api}/console/registry?q=new-0", timeout=30).text

    # Another director may not apply this director's upload.
    other, other_home = sign_in(hub, "dir-two")
    stolen = other.post(f"{hub.api}{apply.group(1)}", data={"csrf": csrf_of(other_home)}, timeout=30)
    assert stolen.status_code == 403

    done = browser.post(f"{hub.api}{apply.group(1)}", data={"csrf": csrf}, timeout=60)
    assert done.status_code == 200 and done.history[0].status_code == 303
    assert "Applied by dir-reg: 25 added, 0 updated" in " ".join(done.text.split())
    assert 'data-testid="apply"' not in done.text
    after = browser.get(f"{hub.api}/console/registry", params={"q": "new-0000"}, timeout=30)
    assert total(after.text) == before + 25 and "25 officials match" in after.text
    imports = audited(hub, "dir-reg", "contacts_import")
    assert len(imports) == 1 and imports[0]["added"] == 25 and imports[0]["outcome"] == "accepted"

    version = generation(hub)
    again = browser.post(f"{hub.api}{apply.group(1)}", data={"csrf": csrf}, timeout=30)
    assert again.status_code == 409 and "already applied by dir-reg" in again.text
    assert generation(hub) == version
    assert len(audited(hub, "dir-reg", "contacts_import")) == 1


def test_viewers_search_with_numbers_masked_and_other_roles_are_refused(
    hub: Stack, officials: list[Official]
) -> None:
    viewer, home = sign_in(hub, "view-reg")
    assert 'href="/console/registry"' in home
    target = next(o for o in officials if o.active and o.mobile)
    found = viewer.get(f"{hub.api}/console/registry", params={"q": target.district.upper()}, timeout=30)
    assert found.status_code == 200 and target.name in found.text
    assert f"mobile •••{(target.mobile or '')[-2:]}" in found.text
    assert not any(o.mobile and o.mobile in found.text for o in officials)
    assert not any(o.voice and o.voice in found.text for o in officials)
    one = viewer.get(f"{hub.api}/console/registry", params={"q": target.id.upper()}, timeout=30)
    assert "1 official match" in one.text and target.name in one.text
    assert 'action="/console/registry/upload"' not in found.text  # no upload form for a viewer
    posted = upload(hub, viewer, csrf_of(home), generate_registry(3, seed=1).encode())
    assert posted.status_code == 403
    for name in ("ed-reg", "cy-reg"):
        browser, other_home = sign_in(hub, name)
        assert 'href="/console/registry"' not in other_home
        assert browser.get(f"{hub.api}/console/registry", timeout=30).status_code == 403
        assert upload(hub, browser, csrf_of(other_home), b"id\n").status_code == 403
    actions = {(e["actor"], e["action"], e["outcome"]) for e in hub.audit_entries()}
    assert ("ed-reg", "read_the_registry", "forbidden") in actions
    assert ("view-reg", "upload_contacts", "forbidden") in actions


def test_bad_uploads_get_a_page_naming_the_problem(hub: Stack, officials: list[Official]) -> None:
    browser, home = sign_in(hub, "dir-reg")
    csrf = csrf_of(home)
    before = generation(hub)
    text = generate_registry(5, seed=24)
    latin1 = text.splitlines()
    latin1[2] = latin1[2].replace("a", "\xe9")
    cases: list[tuple[Any, int, str]] = [
        ({"file": ("", b"", "application/octet-stream")}, 400, "No file was chosen"),
        ({"file": ("registry.xlsx", b"PK\x03\x04" + b"\0" * 64, "application/zip")}, 415, "ZIP archive"),
        ({"file": ("registry.pdf", b"id,name\n", "application/pdf")}, 415, "not a .csv file"),
        ({"file": ("big.csv", text.encode() + b"x" * (1024 * 1024), "text/csv")}, 413, "over the 1 MiB"),
        ({"file": ("utf16.csv", text.encode("utf-16"), "text/csv")}, 422, "the file is UTF-16"),
        ({"file": ("latin1.csv", "\n".join(latin1).encode("latin-1"), "text/csv")}, 422, "not UTF-8"),
        ({"file": ("empty.csv", b"", "text/csv")}, 422, "the file is empty"),
    ]
    for files, status, message in cases:
        response = browser.post(
            f"{hub.api}/console/registry/upload", data={"csrf": csrf}, files=files, timeout=60
        )
        assert response.status_code == status, (files["file"][0], response.status_code, response.text[:300])
        assert response.headers["Content-Type"].startswith("text/html") and message in response.text
    no_form = browser.post(f"{hub.api}/console/registry/upload", data={"csrf": csrf}, timeout=30)
    assert no_form.status_code == 400 and "No file was chosen" in no_form.text
    forged = browser.post(
        f"{hub.api}/console/registry/upload",
        data={"csrf": "wrong"},
        files={"file": ("r.csv", text.encode(), "text/csv")},
        timeout=30,
    )
    assert forged.status_code == 403
    assert browser.get(f"{hub.api}/console/registry/uploads/r_{'0' * 32}", timeout=30).status_code == 404
    assert browser.get(f"{hub.api}/console/registry/uploads/nonsense", timeout=30).status_code == 404
    assert generation(hub) == before


def test_bouncing_addresses_are_listed_with_whose_they_are(hub: Stack, officials: list[Official]) -> None:
    target = next(o for o in officials if o.active and o.email)
    assert target.email is not None

    async def bounce() -> None:
        conn = Redis.from_url(hub.settings.redis_url)
        try:
            store = SubscriptionStore(conn, ProblemThresholds(1, 3))
            await store.record_event(target.email or "", ProblemKind.BOUNCE, "550 5.1.1 mailbox unknown")
        finally:
            await conn.aclose()

    asyncio.run(bounce())
    viewer, _ = sign_in(hub, "view-reg")
    page = viewer.get(f"{hub.api}/console/registry", params={"q": target.id}, timeout=30)
    problems = page.text.split('data-testid="email-problems"', 1)[1]
    assert target.email in problems and f"{target.name} ({target.id})" in problems
    assert "suppressed" in problems and "550 5.1.1 mailbox unknown" in problems
    results = page.text.split('data-testid="results"', 1)[1].split("</ul>", 1)[0]
    assert "bouncing or failing" in results


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None or not AXE.exists(), reason="Chromium and axe-core (make browser)")
def test_a_director_checks_and_applies_a_file_in_a_browser(
    hub: Stack, officials: list[Official], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    path = tmp_path / "registry.csv"
    path.write_text(with_prefix(generate_registry(6, seed=25), "web-"))
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
    ]
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = instance.new_page(viewport={"width": 375, "height": 800})
            page.goto(f"{hub.api}/console/")
            page.get_by_test_id("name").fill("dir-reg")
            page.get_by_test_id("password").fill(PASSWORD)
            page.get_by_test_id("sign-in").click()
            page.get_by_test_id("registry").click()
            page.get_by_test_id("query").fill(officials[0].district)
            page.get_by_test_id("search").click()
            assert page.get_by_test_id("official").count() >= 1
            found = {"registry": violations(page)}
            shot(page, "console-registry-search")
            page.get_by_test_id("file").set_input_files(str(path))
            page.get_by_test_id("upload").click()
            assert page.get_by_test_id("added").inner_text() == "6"
            found["report"] = violations(page)
            shot(page, "console-registry-report")
            page.get_by_test_id("apply").click()
            assert "6 added" in page.get_by_test_id("applied").inner_text()
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            assert found == {"registry": [], "report": []}
        finally:
            instance.close()


def violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ')')"
    )
    return [str(v) for v in found]


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
