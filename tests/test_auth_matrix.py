"""The auth matrix: every operation of /v1/openapi.json that needs a sender, called with no token, a wrong
token and a token of each sender role that may not use it, answers 401 or 403, and each refusal is in the
audit trail (credentials: the refused stream, `GET /v1/audit?stream=refused`; roles: the trail itself).

The operations come from the served document, so a new endpoint is covered as soon as it is documented;
which role may use each one is stated once, here, as the specification (`MAY`), and an operation missing
from it fails the test."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from alertnet.store.server import RedisProcess
from tests.conftest import REPO, Stack, start_stack, stop_stack

D, C, E, V = "director", "cyber_publisher", "editor", "viewer"
ROLES = (D, C, E, V)
EVERY = frozenset(ROLES)
EDITORS = frozenset({D, E})
DIGEST_READERS = frozenset({D, E, V})
PUBLISHERS = frozenset({D, C})
OVERSEERS = frozenset({D, V})

# The specification: which sender roles may use each operation that needs a token. Bulletin operations
# are called on a TLP:AMBER bulletin (restricted: publishers and directors only).
MAY: dict[tuple[str, str], frozenset[str]] = {
    ("get", "/v1/alerts"): EVERY,
    ("post", "/v1/alerts"): frozenset({D}),
    ("get", "/v1/alerts/{alert_id}"): EVERY,
    # A public alert's CAP document needs no token; the matrix's alert is not public.
    ("get", "/v1/alerts/{alert_id}/cap"): EVERY,
    ("get", "/v1/alerts/{alert_id}/acks"): EVERY,
    ("get", "/v1/alerts/{alert_id}/schools"): OVERSEERS,
    ("get", "/v1/alerts/{alert_id}/answers"): OVERSEERS,
    ("post", "/v1/alerts/{alert_id}/acks"): frozenset({D}),
    ("post", "/v1/alerts/{alert_id}/all-clear"): frozenset({D}),
    ("get", "/v1/audit"): OVERSEERS,
    ("get", "/v1/registry/email-problems"): OVERSEERS,
    ("get", "/v1/digest/items"): DIGEST_READERS,
    ("post", "/v1/digest/items"): EDITORS,
    ("patch", "/v1/digest/items/{item_id}"): EDITORS,
    ("delete", "/v1/digest/items/{item_id}"): EDITORS,
    ("get", "/v1/digest/issues/next"): DIGEST_READERS,
    ("get", "/v1/digest/issues/next/preview"): DIGEST_READERS,
    ("post", "/v1/digest/issues/next/approve"): EDITORS,
    ("post", "/v1/digest/issues/next/test"): EDITORS,
    ("get", "/v1/digest/issues/{number}"): DIGEST_READERS,
    ("post", "/v1/digest/issues/{number}/approve"): EDITORS,
    ("post", "/v1/digest/issues/{number}/release"): EDITORS,
    ("post", "/v1/digest/issues/{number}/skip"): EDITORS,
    ("get", "/v1/bulletins"): EVERY,
    ("post", "/v1/bulletins"): PUBLISHERS,
    ("get", "/v1/bulletins/{bulletin_id}"): PUBLISHERS,
    ("patch", "/v1/bulletins/{bulletin_id}"): PUBLISHERS,
    ("post", "/v1/bulletins/{bulletin_id}/retract"): PUBLISHERS,
    ("get", "/v1/bulletins/{bulletin_id}/stix"): PUBLISHERS,
    ("get", "/v1/bulletins/{bulletin_id}/indicators.csv"): PUBLISHERS,
    ("get", "/v1/bulletins/{bulletin_id}/access"): PUBLISHERS,
    # The two-person rule, on an alert held for a second director (another director wrote it).
    ("get", "/v1/approvals"): OVERSEERS,
    ("get", "/v1/approvals/{alert_id}"): OVERSEERS,
    ("post", "/v1/alerts/{alert_id}/approve"): frozenset({D}),
    ("post", "/v1/alerts/{alert_id}/reject"): frozenset({D}),
    # Notification drills: directors plan them and keep their improvement plans; directors and viewers read.
    ("post", "/v1/drills"): frozenset({D}),
    ("post", "/v1/drills/{drill_id}/alerts"): frozenset({D}),
    ("get", "/v1/drills/{drill_id}/report"): OVERSEERS,
    ("post", "/v1/drills/{drill_id}/improvements"): frozenset({D}),
    ("patch", "/v1/drills/{drill_id}/improvements/{improvement}"): frozenset({D}),
    ("get", "/v1/reports/participation"): OVERSEERS,
}
HELD_PATHS = frozenset(
    {"/v1/approvals/{alert_id}", "/v1/alerts/{alert_id}/approve", "/v1/alerts/{alert_id}/reject"}
)
# Operations anyone may call: provider webhooks (signed), officials' pages (their token is in the link),
# the public keys, the document, health.
PUBLIC_PREFIXES = ("/v1/webhooks/", "/a/", "/ack/", "/b/", "/u/", "/digest/", "/healthz", "/readyz")
# The operator console signs people in with a session cookie, not a bearer token (tests/test_console.py).
CONSOLE = "/console"
PUBLIC = frozenset(
    {
        ("get", "/v1/keys"),
        ("get", "/v1/openapi.json"),
        ("get", "/v1/alerts/{alert_id}/verify"),
        ("get", "/v1/alerts.atom"),  # the public alerts' feed
        # Prometheus scrapes with the [metrics] token, not a sender's (none in the tests: loopback only).
        ("get", "/metrics"),
    }
)
WRONG_TOKEN = "an_" + "x" * 43
DRILL = {
    "status": "Exercise",
    "msgType": "Alert",
    "severity": "Minor",
    "urgency": "Expected",
    "certainty": "Likely",
    "event": "Auth matrix drill",
    "headline": "Auth matrix drill",
    "audience": {"statewide": True},
    "channels": ["email"],
}


class FromAddress(HTTPAdapter):
    """Requests from one loopback address (127.0.0.0/8 is all ours): each refused call comes from its own
    client, so the per-client cap on refused-request audit entries never hides one, and its entry is
    found by that address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _session(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


@pytest.fixture(scope="module")
def hub(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(
        redis_server,
        tmp_path_factory.mktemp("auth-matrix-data"),
        db=14,
        ALERTNET_APPROVAL_THRESHOLD="5",  # an Actual alert to more officials waits for a second director
    )
    assert stack.import_contacts(REPO / "contacts" / "sample.csv").returncode == 0
    yield stack
    stop_stack(stack)


@pytest.fixture(scope="module")
def tokens(hub: Stack) -> dict[str, str]:
    return {role: hub.add_sender(f"am-{role.replace('_', '-')}", role) for role in ROLES}


def _call(hub: Stack, method: str, path: str, token: str | None, *, address: str = "127.0.0.1") -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = {} if method in ("post", "patch") else None
    with _session(address) as session:
        return session.request(method, f"{hub.api}{path}", json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def ids(hub: Stack, tokens: dict[str, str]) -> dict[str, str]:
    """Real things for the path parameters, so a refusal is for the role and never for a missing id."""
    director = tokens[D]
    alert = hub.post_alert(director, DRILL)
    assert alert.status_code == 202, alert.text
    auth = {"Authorization": f"Bearer {director}"}
    item = requests.post(
        f"{hub.api}/v1/digest/items",
        json={"title": "Matrix item", "body": "Body.", "category": "grants"},
        headers=auth,
        timeout=30,
    )
    assert item.status_code == 201, item.text
    bulletin = requests.post(
        f"{hub.api}/v1/bulletins",
        json={
            "title": "Matrix bulletin",
            "summary": "Restricted.",
            "body": "Body.",
            "tlp": "TLP:AMBER",
            "severity": "medium",
            "organizations": [_a_district(hub)],
        },
        headers=auth,
        timeout=30,
    )
    assert bulletin.status_code == 201, bulletin.text
    issue = requests.get(f"{hub.api}/v1/digest/issues/next", headers=auth, timeout=30)
    drill = requests.post(
        f"{hub.api}/v1/drills",
        json={
            "name": "Matrix drill",
            "type": "lockdown",
            "window": {"start": _iso(time.time() - 60), "end": _iso(time.time() + 86400)},
            "audience": {"statewide": True},
            "objectives": ["Acknowledge"],
        },
        headers=auth,
        timeout=30,
    )
    assert drill.status_code == 201, drill.text
    improvement = requests.post(
        f"{hub.api}/v1/drills/{drill.json()['id']}/improvements",
        json={"issue": "I", "corrective_action": "C", "owner": "O", "due": "2027-01-01"},
        headers=auth,
        timeout=30,
    )
    assert improvement.status_code == 201, improvement.text
    held = hub.post_alert(hub.add_sender("am-author", D), {**DRILL, "status": "Actual"})
    assert held.status_code == 202 and held.json()["id"] != alert.json()["id"], held.text
    return {
        "held_id": held.json()["id"],
        "alert_id": alert.json()["id"],
        "item_id": item.json()["id"],
        "bulletin_id": bulletin.json()["id"],
        "number": str(issue.json()["number"]),
        "drill_id": drill.json()["id"],
        "improvement": str(improvement.json()["n"]),
    }


def _a_district(hub: Stack) -> str:
    lines = (REPO / "contacts" / "sample.csv").read_text().splitlines()
    header = lines[0].split(",")
    return lines[1].split(",")[header.index("district")]


def _operations(hub: Stack) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of the served document but the console's (session cookie, not a bearer token)."""
    document = requests.get(f"{hub.api}/v1/openapi.json", timeout=10).json()
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete") and not path.startswith(CONSOLE)
    ]


def _bearer(operation: dict[str, Any]) -> bool:
    return {"bearer": []} in operation.get("security", [])


def _url(path: str, ids: dict[str, str]) -> str:
    held = {"alert_id": ids["held_id"]} if path in HELD_PATHS else {}
    url = re.sub(r"\{(\w+)\}", lambda m: {**ids, **held}[m.group(1)], path)
    query = "?school_year=2026-27" if url.endswith("/participation") else ""
    return url + ("?official=x" if url.endswith("/preview") else query)


def _audit(hub: Stack, director: str, **params: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{hub.api}/v1/audit",
        params={"limit": "1000", **params},
        headers={"Authorization": f"Bearer {director}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def _newer(entry_id: str, mark: str) -> bool:
    return tuple(map(int, entry_id.split("-"))) > tuple(map(int, mark.split("-")))


def test_the_specification_names_every_operation_that_needs_a_sender(hub: Stack) -> None:
    secured = {(m, p) for m, p, op in _operations(hub) if _bearer(op)}
    public = {(m, p) for m, p, op in _operations(hub) if not _bearer(op)}
    assert secured == set(MAY), "state who may use each operation in MAY"
    for method, path in public:
        assert (method, path) in PUBLIC or path.startswith(PUBLIC_PREFIXES), (method, path)
    for method, path, operation in _operations(hub):
        assert _bearer(operation) or not operation.get("security"), (method, path)


def test_no_token_and_a_wrong_token_get_401_and_are_audited_apart(
    hub: Stack, tokens: dict[str, str], ids: dict[str, str]
) -> None:
    secured = [(m, p, op) for m, p, op in _operations(hub) if _bearer(op)]
    calls = []
    for n, (method, path, operation) in enumerate(secured):
        url = _url(path, ids)
        for k, (token, reason) in enumerate(
            ((None, "missing Authorization header"), (WRONG_TOKEN, "unknown or revoked token"))
        ):
            address = f"127.0.{10 + k}.{n + 1}"
            response = _call(hub, method, url, token, address=address)
            label = f"{method.upper()} {path} {'no token' if token is None else 'wrong token'}"
            assert response.status_code == 401, (label, response.status_code, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), label
            assert response.json()["error"] == "unauthorized", label
            assert "401" in operation["responses"], label
            calls.append((label, address, f"{method.upper()} {url.split('?')[0]}", reason))
    refused = _audit(hub, tokens[D], stream="refused")
    found = {(e["client"], e["action"], e["detail"]["reason"]) for e in refused}
    missing = [label for label, *entry in calls if tuple(entry) not in found]
    assert not missing, f"refusals not audited: {missing}"


def test_each_role_that_may_not_use_an_operation_gets_403_and_an_audit_entry(
    hub: Stack, tokens: dict[str, str], ids: dict[str, str]
) -> None:
    names = {role: f"am-{role.replace('_', '-')}" for role in ROLES}
    problems = []
    for method, path, operation in _operations(hub):
        if not _bearer(operation):
            continue
        for role in sorted(EVERY - MAY[(method, path)]):
            label = f"{method.upper()} {path} as {role}"
            mark = _audit(hub, tokens[D], limit="1")[0]["id"]
            response = _call(hub, method, _url(path, ids), tokens[role])
            if response.status_code != 403 or "403" not in operation["responses"]:
                problems.append(f"{label}: {response.status_code} {response.text[:200]}")
                continue
            assert response.json()["error"] == "forbidden", label
            entries = [e for e in _audit(hub, tokens[D], limit="50") if _newer(e["id"], mark)]
            if not any(e["actor"] == names[role] and e["outcome"] == "forbidden" for e in entries):
                problems.append(f"{label}: refused but not audited")
    assert not problems, "\n".join(problems)


def test_each_role_that_may_use_an_operation_is_let_in(
    hub: Stack, tokens: dict[str, str], ids: dict[str, str]
) -> None:
    """The other half of the specification (last: some of these calls change things, e.g. retract)."""
    problems = []
    for method, path, operation in _operations(hub):
        if not _bearer(operation):
            continue
        for role in sorted(MAY[(method, path)]):
            response = _call(hub, method, _url(path, ids), tokens[role])
            if response.status_code in (401, 403) or response.status_code >= 500:
                problems.append(
                    f"{method.upper()} {path} as {role}: {response.status_code} {response.text[:200]}"
                )
    assert not problems, "\n".join(problems)
