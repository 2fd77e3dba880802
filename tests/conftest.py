"""Shared fixtures: a real Redis server this suite starts (never one it did not make), and the whole
hub (simulators, API, workers, scheduler) as real processes on free ports."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from alertnet.store import keys as k
from alertnet.store.server import RedisProcess, start_redis
from bench.stack import HubProcesses, base_env, wait_http

REPO = Path(__file__).resolve().parent.parent
__all__ = ["Stack", "start_stack", "stop_stack", "wait_http"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = start_redis(tmp_path_factory.mktemp("redis"), persistent=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisProcess) -> str:
    return redis_server.url


@pytest.fixture
def fresh_redis_url(redis_server: RedisProcess) -> Iterator[str]:
    """A database of our own server, emptied for this test (db 1..15; the stack uses db 0)."""
    url = f"redis://127.0.0.1:{redis_server.port}/9"
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    yield url
    conn.flushdb()
    conn.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_until(moment: float) -> None:
    """Sleep until the wall clock reaches `moment` (a time.time() value)."""
    while time.time() < moment:
        time.sleep(0.05)


@dataclass
class Stack(HubProcesses):
    """The running hub (`bench.stack.HubProcesses`, the bench's way to start it) with the helpers the
    tests use. Every test that uses it brings its own officials (a full import)."""

    def cli(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run_cli(*args, timeout=120, input_text=input_text)

    def add_sender(self, name: str, role: str) -> str:
        result = self.cli("senders", "add", name, "--role", role)
        assert result.returncode == 0, result.stderr
        return next(
            line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("token: ")
        )

    def import_contacts(self, path: Path) -> subprocess.CompletedProcess[str]:
        return self.cli("contacts", "import", str(path))

    def post_alert(self, token: str, body: Any) -> requests.Response:
        return requests.post(
            f"{self.api}/v1/alerts", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def send(self, token: str, body: Any) -> str:
        """Post an alert that must be accepted (202); its id."""
        accepted = self.post_alert(token, body)
        assert accepted.status_code == 202, accepted.text
        return str(accepted.json()["id"])

    def all_clear(self, token: str, alert_id: str) -> None:
        """The prepared all-clear of an alert, which must be accepted (202)."""
        clear = requests.post(f"{self.api}/v1/alerts/{alert_id}/all-clear", headers=bearer(token), timeout=10)
        assert clear.status_code == 202, clear.text

    def status(self, token: str, alert_id: str, *, unavailable_for: float = 0) -> dict[str, Any]:
        """The alert's status; a 503 (Redis restarting) is asked again, as its Retry-After says, for up
        to `unavailable_for` seconds."""
        deadline = time.monotonic() + unavailable_for
        while True:
            response = requests.get(
                f"{self.api}/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            if response.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 1.0))
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def audit_entries(self) -> list[dict[str, str]]:
        """Every entry of the audit trail, oldest first, as text."""
        conn = redis.Redis.from_url(self.settings.redis_url)
        try:
            return [
                {key.decode(): value.decode() for key, value in fields.items()}
                for _, fields in conn.xrange(k.AUDIT_STREAM)
            ]
        finally:
            conn.close()

    def settled_sms(self, since: float, expected: int, settle: float = 1.0) -> list[dict[str, Any]]:
        """The SMS the simulator received since `since`, once `expected` arrived (or 30 s passed) and
        `settle` more seconds brought nothing else."""
        deadline = time.monotonic() + 30
        while len(self.sim_messages("sms", since=since)) < expected and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(settle)
        return self.sim_messages("sms", since=since)

    def wait_settled(self, token: str, alert_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(token, alert_id, unavailable_for=max(0.0, deadline - time.monotonic()))
            if status["settled"]:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"alert {alert_id} not settled: {status['channels']}")
            time.sleep(0.2)


def start_stack(
    redis_server: RedisProcess, data: Path, *, db: int = 0, log_dir: Path | None = None, **overrides: str
) -> Stack:
    """Start simulators, API, two workers and a scheduler against database `db` of our Redis."""
    env = base_env(
        f"redis://127.0.0.1:{redis_server.port}/{db}",
        data,
        **{
            "ALERTNET_SIM_CALLBACK_DELAY": "0.01",
            "ALERTNET_PIPELINE_STALE_CLAIM_SECONDS": "3",
            "ALERTNET_PIPELINE_BACKOFF_BASE_SECONDS": "0.05",
            "ALERTNET_PIPELINE_MAX_ATTEMPTS": "8",
            # The digest's cut-off is its send moment, so items added at any hour of the week land in the
            # issue a test approves as "next" (tests/test_digest.py covers the Thursday-to-Friday window).
            "ALERTNET_DIGEST_CUTOFF_DAY": "friday",
            "ALERTNET_DIGEST_CUTOFF_TIME": "10:00",
            **overrides,
        },
    )
    stack = Stack(env, log_dir=log_dir)
    stack.start_hub(workers=2)
    return stack


def stop_stack(stack: Stack) -> None:
    stack.stop_all()


@pytest.fixture(scope="session")
def stack(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start_stack(redis_server, tmp_path_factory.mktemp("alertnet-data"))
    yield started
    stop_stack(started)


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
