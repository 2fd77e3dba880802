"""`alertnet run` (what `make run` starts) as a newcomer uses it: its own Redis, the printed token and send
command, a component that dies started again, Ctrl-C stopping everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from alertnet.store.server import free_port


def _children(pid: int, name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid), "-f", name], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(180)
def test_run_starts_everything_sends_restarts_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        **os.environ,
        # Nothing answers here, so `run` starts a Redis of its own (append-only, in the data folder).
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "ALERTNET_DATA_DIR": str(tmp_path / "data"),
        "ALERTNET_API_PORT": str(free_port()),
        "ALERTNET_SIM_PORT": str(free_port()),
        "ALERTNET_LOG_LEVEL": "WARNING",
    }
    for key in [k for k in env if k.startswith(("ALERTNET_TWILIO_A", "ALERTNET_SENDGRID_API"))]:
        del env[key]
    out = (tmp_path / "run.out").open("w+")
    run = subprocess.Popen(
        [sys.executable, "-m", "alertnet", "run"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C stops everything" not in (text := (tmp_path / "run.out").read_text()):
            assert run.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.2)
        assert "started Redis" in text and "append-only data in" in text
        assert f"http://127.0.0.1:{env['ALERTNET_API_PORT']}" in text
        token = re.search(r"^token: (\S+)$", text, re.MULTILINE)
        assert token, text
        assert re.search(r"alertnet send --token \S+ --status Exercise --statewide", text)
        # Where the weekly update's next issue, its preview and the archive are; each answers.
        api = f"http://127.0.0.1:{env['ALERTNET_API_PORT']}"
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        assert f"{api}/v1/digest/issues/next/preview?official=" in text and f"{api}/digest/" in text
        assert (
            requests.get(f"{api}/v1/digest/issues/next", headers=auth, timeout=10).json()["state"] == "open"
        )
        assert requests.get(f"{api}/digest/", timeout=10).status_code == 200

        send = [sys.executable, "-m", "alertnet", "send", "--token", token.group(1), "--status", "Actual"]
        send += ["--statewide", "--event", "Lockdown", "--headline", "Lockdown: intruder reported"]
        sent = subprocess.run(send, env=env, capture_output=True, text=True, timeout=90)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "settled; signature valid: True" in sent.stdout

        # A worker that dies is started again.
        workers = _children(run.pid, "alertnet worker")
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while len(_children(run.pid, "alertnet worker")) < 2 or workers[0] in _children(run.pid, "worker"):
            assert time.monotonic() < deadline, (tmp_path / "run.out").read_text()
            time.sleep(0.2)
        assert "worker stopped (exit -9); starting it again" in (tmp_path / "run.out").read_text()
    finally:
        # Ctrl-C in a terminal: SIGINT to the whole process group.
        os.killpg(run.pid, signal.SIGINT)
        code = run.wait(timeout=40)
        out.close()
    assert code == 0
    deadline = time.monotonic() + 10
    while _group_alive(run.pid):
        assert time.monotonic() < deadline, "a child of `alertnet run` outlived Ctrl-C"
        time.sleep(0.2)
