"""The hub as real processes (sim, api, workers, scheduler): one way to start it, for the tests and the bench.

`HubProcesses` starts and stops the processes from one environment (`base_env`) and waits until they
answer; `tests/conftest.py` and the bench's `Stack` (which also owns a private Redis server) build on it.
Everything started here is stopped by `close` (also on Ctrl-C and errors: callers use it as a context
manager). Neither ever touches a Redis it did not start.
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

from alertnet.settings import Settings, load_settings
from alertnet.store.server import RedisProcess, free_port, start_redis

REPO = Path(__file__).resolve().parent.parent
PROVIDER_CREDENTIALS = ("ALERTNET_TWILIO_ACCOUNT", "ALERTNET_TWILIO_AUTH", "ALERTNET_SENDGRID_API")
KINDS = ("sim", "api", "worker", "scheduler")
TEARDOWN_GRACE_SECONDS = 5.0  # HubProcesses.stop_all


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
        # The two-person rule is off unless a test or figure turns it on: they send large Actual alerts.
        "ALERTNET_APPROVAL_THRESHOLD": "0",
        **overrides,
    }
    for key in [k for k in env if k.startswith(PROVIDER_CREDENTIALS)]:
        del env[key]
    return env


@dataclass
class HubProcesses:
    """The hub's processes by kind, all started from one environment, with what the tests and the bench
    both ask of them. `entry` is the command that runs `alertnet KIND`."""

    env: dict[str, str]
    entry: tuple[str, ...] = (sys.executable, "-m", "alertnet")
    log_dir: Path | None = None  # when set, each process writes its output to KIND-N.log here
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

    def start(self, kind: str, count: int = 1, **env: str) -> None:
        """Start `count` processes of `alertnet <kind>` (with extra environment)."""
        for _ in range(count):
            log = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                n = len(list(self.log_dir.glob(f"{kind}-*.log")))
                log = (self.log_dir / f"{kind}-{n}.log").open("wb")
            proc = subprocess.Popen(
                [*self.entry, kind],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT if log is not None else None,
                cwd=REPO,
            )
            if log is not None:
                log.close()
            self.procs.setdefault(kind, []).append(proc)

    def stop(self, kind: str, sig: int | None = None) -> None:
        """Stop every process of `kind` (SIGTERM or `sig`, then SIGKILL after 15 s)."""
        for proc in self.procs.pop(kind, []):
            stop_process(proc, sig)

    def stop_all(self) -> None:
        """Stop every process at once: SIGTERM to all, then SIGKILL to those still up after
        `TEARDOWN_GRACE_SECONDS`. A worker in the middle of a batch finishes the batch first (rq's warm
        shutdown), which takes as long as a paced call-out has left; a stack being thrown away need not
        wait for that (its leases would hand the batch to another worker)."""
        procs = [proc for kind in list(self.procs) for proc in self.procs.pop(kind)]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + TEARDOWN_GRACE_SECONDS
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def pids(self, kind: str) -> list[int]:
        return [p.pid for p in self.procs.get(kind, []) if p.poll() is None]

    def check_alive(self) -> None:
        """Raise if a hub process died (its log is in log_dir)."""
        for kind, procs in self.procs.items():
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{kind} process {proc.pid} exited with {proc.returncode}")

    def wait_up(self, *, ready: bool = False) -> None:
        """Wait until the simulators and the API answer (with `ready`, until a worker is registered too)."""
        wait_http(f"{self.sim}/healthz")
        wait_http(f"{self.api}/healthz")
        if ready and "worker" in self.procs:
            wait_http(f"{self.api}/readyz", want=200)

    def start_hub(self, *, workers: int = 2, ready: bool = False) -> None:
        """Simulators, API, `workers` workers and a scheduler; stops them all if they do not come up."""
        try:
            self.start("sim")
            self.start("api", self.settings.api.processes)
            self.start("worker", workers)
            self.start("scheduler")
            self.wait_up(ready=ready)
        except BaseException:
            self.stop_all()
            raise

    def run_cli(
        self, *args: str, timeout: float = 300, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `alertnet ARGS` against this hub."""
        return subprocess.run(
            [*self.entry, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            cwd=REPO,
        )

    def sim_messages(self, kind: str, since: float = 0.0, to: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"kind": kind, "since": since}
        if to is not None:
            params["to"] = to
        response = requests.get(f"{self.sim}/sim/messages", params=params, timeout=120)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def set_faults(self, **faults: Any) -> None:
        requests.post(f"{self.sim}/sim/faults", json=faults, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.sim}/sim/faults", timeout=10).raise_for_status()


@dataclass
class Stack(HubProcesses):
    """The bench's hub: its processes, run as `python -m bench.hub`, over a private Redis server."""

    workdir: Path = field(default_factory=Path)
    redis_server: RedisProcess | None = None

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def wait_ready(self) -> None:
        self.wait_up(ready=True)

    def restart_api(self, **env: str) -> None:
        """Restart the API with extra environment (e.g. another escalation time scale)."""
        self.stop("api")
        self.env.update(env)
        self.start("api", self.settings.api.processes)
        wait_http(f"{self.api}/healthz")

    def close(self) -> None:
        self.stop_all()
        if self.redis_server is not None:
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
        result = self.run_cli(*args, timeout=timeout)
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

    def reset_sim(self) -> None:
        requests.delete(f"{self.sim}/sim/messages", timeout=30).raise_for_status()


def stop_process(proc: subprocess.Popen[bytes], sig: int | None = None) -> None:
    if proc.poll() is None:
        if sig is None:
            proc.terminate()
        else:
            proc.send_signal(sig)
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
    # Escalation steps far in the future unless a figure asks for them: they would add traffic.
    env = base_env(server.url, workdir / "data", **{"ALERTNET_ESCALATION_TIME_SCALE": "1000", **overrides})
    stack = Stack(
        env, (sys.executable, "-m", "bench.hub"), workdir / "logs", workdir=workdir, redis_server=server
    )
    try:
        stack.start_hub(workers=workers, ready=True)
    except BaseException:
        server.stop()
        raise
    return stack
