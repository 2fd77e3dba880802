"""Shared fixtures: a real Redis server this suite starts (never one it did not make), and the whole
hub (simulators, API, workers, scheduler) as real processes on free ports."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from alertnet.redis_server import RedisProcess, free_port, start_redis
from alertnet.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent


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


@dataclass
class Stack:
    """The running hub. Every test that uses it brings its own officials (a full import)."""

    settings: Settings
    env: dict[str, str]
    procs: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    log_dir: Path | None = None  # when set, each process writes its log here (stderr)

    @property
    def api(self) -> str:
        return self.settings.api.base_url

    @property
    def sim(self) -> str:
        return self.settings.sim.base_url

    def cli(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "alertnet", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            input=input_text,
        )

    def add_sender(self, name: str, role: str) -> str:
        result = self.cli("senders", "add", name, "--role", role)
        assert result.returncode == 0, result.stderr
        return next(
            line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("token: ")
        )

    def import_contacts(self, path: Path) -> subprocess.CompletedProcess[str]:
        return self.cli("contacts", "import", str(path))

    def start(self, kind: str, count: int = 1) -> None:
        for _ in range(count):
            log = None
            if self.log_dir is not None:
                n = len(list(self.log_dir.glob(f"{kind}-*.log")))
                log = (self.log_dir / f"{kind}-{n}.log").open("wb")
            self.procs.setdefault(kind, []).append(
                subprocess.Popen([sys.executable, "-m", "alertnet", kind], env=self.env, stderr=log)
            )
            if log is not None:
                log.close()

    def stop(self, kind: str, sig: int | None = None) -> None:
        for proc in self.procs.pop(kind, []):
            if sig is None:
                proc.terminate()
            else:
                proc.send_signal(sig)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def post_alert(self, token: str, body: Any) -> requests.Response:
        return requests.post(
            f"{self.api}/v1/alerts", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def status(self, token: str, alert_id: str) -> dict[str, Any]:
        response = requests.get(
            f"{self.api}/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wait_settled(self, token: str, alert_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(token, alert_id)
            if status["settled"]:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"alert {alert_id} not settled: {status['channels']}")
            time.sleep(0.2)

    def sim_messages(self, kind: str, since: float = 0.0) -> list[dict[str, Any]]:
        response = requests.get(f"{self.sim}/sim/messages", params={"kind": kind, "since": since}, timeout=30)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def set_faults(self, **faults: Any) -> None:
        requests.post(f"{self.sim}/sim/faults", json=faults, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.sim}/sim/faults", timeout=10).raise_for_status()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_stack(
    redis_server: RedisProcess, data: Path, *, db: int = 0, log_dir: Path | None = None, **overrides: str
) -> Stack:
    """Start simulators, API, two workers and a scheduler against database `db` of our Redis."""
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/{db}",
        "ALERTNET_DATA_DIR": str(data),
        "ALERTNET_API_PORT": str(free_port()),
        "ALERTNET_SIM_PORT": str(free_port()),
        "ALERTNET_SIM_CALLBACK_DELAY": "0.01",
        "ALERTNET_PIPELINE_STALE_CLAIM_SECONDS": "3",
        "ALERTNET_PIPELINE_BACKOFF_BASE_SECONDS": "0.05",
        "ALERTNET_PIPELINE_MAX_ATTEMPTS": "8",
        "ALERTNET_LOG_LEVEL": "WARNING",
        **overrides,
    }
    for key in [
        k
        for k in env
        if k.startswith(("ALERTNET_TWILIO_ACCOUNT", "ALERTNET_TWILIO_AUTH", "ALERTNET_SENDGRID_API"))
    ]:
        del env[key]
    stack = Stack(load_settings(env=env), env, log_dir=log_dir)
    stack.start("sim")
    stack.start("api")
    stack.start("worker", 2)
    stack.start("scheduler")
    try:
        wait_http(f"{stack.sim}/healthz")
        wait_http(f"{stack.api}/healthz")
    except Exception:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    for kind in list(stack.procs):
        stack.stop(kind)


@pytest.fixture(scope="session")
def stack(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start_stack(redis_server, tmp_path_factory.mktemp("alertnet-data"))
    yield started
    stop_stack(started)


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
