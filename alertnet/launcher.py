"""`alertnet run`: the whole hub on one machine, as child processes of one command. Ctrl-C stops all."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from alertnet.settings import Settings
from alertnet.store.server import RedisProcess, answers, start_redis

DEMO_DIRECTOR = "demo-director"
RESTART_DELAY_SECONDS = 1.0


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_everything(settings: Settings, *, workers: int, contacts: Path) -> int:
    from alertnet.bootstrap import Services, using_services
    from alertnet.domain.senders import SenderRole
    from alertnet.services.registry import load_registry

    redis_server: RedisProcess | None = None
    children: list[subprocess.Popen[bytes]] = []
    # Ctrl-C and SIGTERM both stop everything (even when started from a shell that ignores SIGINT).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    env = dict(os.environ)
    try:
        if answers(settings.redis_url):
            print(f"using Redis at {settings.redis_url}")
        else:
            redis_server = start_redis(settings.data_path / "redis", persistent=True)
            settings = settings.replace(redis_url=redis_server.url)
            print(f"started Redis ({redis_server.url}, append-only data in {redis_server.data_dir})")
        env["REDIS_URL"] = settings.redis_url
        command = [sys.executable, "-m", "alertnet"]
        parts = ["sim", *["api"] * settings.api.processes, *["worker"] * workers, "scheduler"]
        children += [subprocess.Popen([*command, part], env=env) for part in parts]
        _wait_http(f"{settings.sim.base_url}/healthz")
        _wait_http(f"{settings.api.base_url}/healthz")
        officials = load_registry(contacts)
        summary = asyncio.run(
            using_services(settings, lambda s: s.registry.import_officials(officials, full=True))
        )
        password = secrets.token_urlsafe(12)  # a demo sign-in, new on every start, shown once below

        async def demo_director(services: Services) -> str:
            created = await services.senders.add(DEMO_DIRECTOR, SenderRole.DIRECTOR)
            await services.accounts.set_password(DEMO_DIRECTOR, password, actor="run")
            return created.token

        token = asyncio.run(using_services(settings, demo_director))
        api = settings.api.base_url
        print(
            f"""
AlertNet is running.
  API:        {api}   (OpenAPI: {api}/v1/openapi.json, readiness: {api}/readyz)
  simulators: {settings.sim.base_url}   (what they received: {settings.sim.base_url}/sim/messages)
  contacts:   {contacts} ({summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged)
  sender:     {DEMO_DIRECTOR} (director)
token: {token}

The operator console: {api}/console/
  sign in as {DEMO_DIRECTOR} with password: {password}

Send a statewide exercise alert and follow it until every delivery settles:
  .venv/bin/alertnet send --token {token} --status Exercise --statewide \\
      --event Lockdown --headline "Lockdown drill at all schools" --instruction "Follow your lockdown plan."

The weekly school safety update (add editors with: .venv/bin/alertnet senders add NAME --role editor):
  next issue:  curl -s -H "Authorization: Bearer {token}" {api}/v1/digest/issues/next
  its preview: curl -s -H "Authorization: Bearer {token}" "{api}/v1/digest/issues/next/preview?official=ID"
  archive:     {api}/digest/

Ctrl-C stops everything.""",
            flush=True,
        )
        # A component that dies is started again (as systemd's Restart=always does in production).
        while True:
            time.sleep(0.5)
            for n, child in enumerate(children):
                if child.poll() is not None:
                    print(f"{parts[n]} stopped (exit {child.returncode}); starting it again", file=sys.stderr)
                    time.sleep(RESTART_DELAY_SECONDS)
                    children[n] = subprocess.Popen([*command, parts[n]], env=env)
    except KeyboardInterrupt:
        print("\nstopping")
        return 0
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave children running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis_server is not None:
            redis_server.stop()
