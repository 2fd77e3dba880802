"""The hub under test: a private Redis server and the real processes (sim, api, workers, scheduler).

Everything started here is stopped by `Stack.close` (also on Ctrl-C and errors: callers use it as a
context manager). The bench never touches a Redis it did not start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
import requests

from alertnet.redis_server import RedisProcess, free_port, start_redis
from alertnet.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
PROVIDER_CREDENTIALS = ("ALERTNET_TWILIO_ACCOUNT", "ALERTNET_TWILIO_AUTH", "ALERTNET_SENDGRID_API")
KINDS = ("sim", "api", "worker", "scheduler")


def base_env(redis_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment every hub process gets: our Redis, fresh ports, quiet logs, simulated providers."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "ALERTNET_DATA_DIR": str(data_dir),
        "ALERTNET_API_PORT": str(free_port()),
        "ALERTNET_SIM_PORT": str(free_port()),
        "ALERTNET_SIM_CALLBACK_DELAY": "0.05",
        "ALERTNET_LOG_LEVEL": "WARNING",
        # Escalation steps far in the future unless a figure asks for them: they would add traffic.
        "ALERTNET_ESCALATION_TIME_SCALE": "1000",
        **overrides,
    }
    for key in [k for k in env if k.startswith(PROVIDER_CREDENTIALS)]:
        del env[key]
    return env


@dataclass
class Stack:
    """The running hub: processes by kind, their environment and settings, and the Redis under them."""

    workdir: Path
    redis_server: RedisProcess
    env: dict[str, str]
    procs: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return load_settings(env=self.env)

    @property
    def api(self) -> str:
        return self.settings.api.base_url

    @property
    def sim(self) -> str:
        return self.settings.sim.base_url

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    # -- processes ----------------------------------------------------------------------------------------

    def start(self, kind: str, count: int = 1, **env: str) -> None:
        """Start `count` processes of `alertnet <kind>`, logging to workdir/logs."""
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        for _ in range(count):
            n = len(self.procs.get(kind, []))
            out = (logs / f"{kind}-{n}-{time.time():.0f}.log").open("wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.hub", kind],
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
            out.close()
            self.procs.setdefault(kind, []).append(proc)

    def stop(self, kind: str) -> None:
        """Stop every process of `kind` (SIGTERM, then SIGKILL after 15 s)."""
        for proc in self.procs.pop(kind, []):
            stop_process(proc)

    def pids(self, kind: str) -> list[int]:
        return [p.pid for p in self.procs.get(kind, []) if p.poll() is None]

    def check_alive(self) -> None:
        """Raise if a hub process died (its log is in workdir/logs)."""
        for kind, procs in self.procs.items():
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{kind} process {proc.pid} exited with {proc.returncode}")

    def wait_ready(self) -> None:
        wait_http(f"{self.sim}/healthz")
        wait_http(f"{self.api}/healthz")
        if "worker" in self.procs:
            wait_http(f"{self.api}/readyz", want=200)

    def restart_api(self, **env: str) -> None:
        """Restart the API with extra environment (e.g. another escalation time scale)."""
        self.stop("api")
        self.env.update(env)
        self.start("api")
        wait_http(f"{self.api}/healthz")

    def close(self) -> None:
        for kind in list(self.procs):
            self.stop(kind)
        self.redis_server.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the command line ---------------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 300) -> str:
        """Run `alertnet ARGS` against this stack; returns stdout, raises with stderr on failure."""
        result = subprocess.run(
            [sys.executable, "-m", "bench.hub", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )
        if result.returncode != 0:
            raise RuntimeError(f"alertnet {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def add_sender(self, name: str, role: str = "director") -> str:
        out = self.cli("senders", "add", name, "--role", role)
        return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("token: "))

    def generate_and_import(self, officials: int) -> Path:
        """Generate a synthetic registry of `officials` rows and import it; returns the CSV path."""
        path = self.workdir / f"registry-{officials}.csv"
        self.cli("contacts", "generate", "--officials", str(officials), "-o", str(path))
        self.cli("contacts", "import", str(path), timeout=600)
        return path

    # -- HTTP helpers ---------------------------------------------------------------------------------------

    def post_alert(self, token: str, body: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
        """POST /v1/alerts; returns (answer, wall time sent, seconds until the answer)."""
        sent = time.time()
        start = time.perf_counter()
        response = requests.post(
            f"{self.api}/v1/alerts", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        latency = time.perf_counter() - start
        if response.status_code != 202:
            raise RuntimeError(f"alert refused ({response.status_code}): {response.text[:500]}")
        answer: dict[str, Any] = response.json()
        return answer, sent, latency

    def alert_status(self, token: str, alert_id: str) -> dict[str, Any]:
        response = requests.get(
            f"{self.api}/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def sim_stats(self) -> dict[str, Any]:
        response = requests.get(f"{self.sim}/sim/stats", timeout=30)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def sim_messages(self, kind: str, since: float = 0.0, to: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"kind": kind, "since": since}
        if to is not None:
            params["to"] = to
        response = requests.get(f"{self.sim}/sim/messages", params=params, timeout=120)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def reset_sim(self) -> None:
        requests.delete(f"{self.sim}/sim/messages", timeout=30).raise_for_status()

    def set_faults(self, **faults: Any) -> None:
        requests.post(f"{self.sim}/sim/faults", json=faults, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.sim}/sim/faults", timeout=10).raise_for_status()


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_http(url: str, timeout: float = 60.0, want: int | None = None) -> None:
    """Wait until `url` answers (with status `want`, or anything below 500)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = requests.get(url, timeout=2).status_code
            if (want is None and status < 500) or status == want:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")


def open_stack(workdir: Path, *, workers: int = 2, **overrides: str) -> Stack:
    """Start a private Redis and the whole hub in `workdir`; the caller must close it."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = start_redis(workdir / "redis", persistent=False)
    stack = Stack(workdir, server, base_env(server.url, workdir / "data", **overrides))
    try:
        stack.start("sim")
        stack.start("api")
        stack.start("worker", workers)
        stack.start("scheduler")
        stack.wait_ready()
    except BaseException:
        stack.close()
        raise
    return stack
