"""More than one machine, shown on this one: Redis under Sentinel (a primary, a replica and three
Sentinels on loopback ports), the hub following a `redis+sentinel://` URL with `[redis] min_replicas = 1`
(the writes that must survive a failover wait for a replica), the API and two workers as separate
processes. The primary is SIGKILLed in the middle of a 10,000-official fan-out on three channels; the
Sentinels promote the replica and the hub follows it. Read at the simulators: every SMS and call went out
exactly once, every email at least once.

Also the URL's parsing, and the durable write's WAIT against a real primary and replica.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from alertnet.domain.alert_request import example_alert_request
from alertnet.domain.registry_csv import parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.store.durable import NotDurable, durable
from alertnet.store.redis_url import SentinelUrl, connect_async, connect_sync, parse_sentinel_url
from alertnet.store.server import answers, free_port, server_binary
from bench.stack import base_env
from tests.conftest import Stack

SIZE = 10_000
SERVICE = "alertnet"


@dataclass
class SentinelRedis:
    """A primary, a replica and three Sentinels, each a process on a free loopback port."""

    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)  # "a", "b" (servers), "s1".."s3" (Sentinels)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{self.ports[s]}" for s in ("s1", "s2", "s3"))
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start_server(self, name: str, replica_of: str | None = None) -> None:
        port = self.ports.setdefault(name, free_port())
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        args = [server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
        args += ["--save", "", "--appendonly", "no", "--repl-diskless-sync", "yes"]
        args += ["--repl-diskless-sync-delay", "0"]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(self.ports[replica_of])]
        self.procs[name] = self._spawn(name, args)
        wait_for(lambda: answers(f"redis://127.0.0.1:{port}/0", timeout=0.2), 15, f"redis {name}")

    def start_sentinels(self, primary: str) -> None:
        for name in ("s1", "s2", "s3"):
            port = self.ports.setdefault(name, free_port())
            conf = self.workdir / f"{name}.conf"  # Sentinel rewrites its own file: one each, writable
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.ports[primary]} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 3000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self.procs[name] = self._spawn(name, [server_binary(), str(conf), "--sentinel"])

        def ready() -> bool:
            for name in ("s1", "s2", "s3"):
                try:
                    conn = redis.Redis(port=self.ports[name], socket_timeout=0.5, decode_responses=True)
                    master = conn.sentinel_master(SERVICE)
                    conn.close()
                except (redis.RedisError, OSError):
                    return False
                if int(master["num-other-sentinels"]) < 2 or int(master["num-slaves"]) < 1:
                    return False
            return True

        wait_for(ready, 30, "three Sentinels that know each other and the replica")

    def primary_port(self) -> int | None:
        """The primary's port as the Sentinels now name it (the first that answers)."""
        for name in ("s1", "s2", "s3"):
            try:
                conn = redis.Redis(port=self.ports[name], socket_timeout=0.5)
                found = conn.sentinel_get_master_addr_by_name(SERVICE)
                conn.close()
            except (redis.RedisError, OSError):
                continue
            if found:
                return int(found[1])
        return None

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        try:
            return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()


def wait_for(check: object, timeout: float, what: str) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.1)


@pytest.fixture
def sentinel_redis(tmp_path: Path) -> Iterator[SentinelRedis]:
    try:
        server_binary()
    except RuntimeError:
        pytest.skip("no Redis-compatible server binary")
    cluster = SentinelRedis(tmp_path / "redis")
    try:
        cluster.start_server("a")
        cluster.start_server("b", replica_of="a")
        cluster.start_sentinels("a")
        yield cluster
    finally:
        cluster.stop()


def test_sentinel_urls_are_parsed_and_plain_urls_are_not() -> None:
    assert parse_sentinel_url("redis://127.0.0.1:6379/0") is None
    assert parse_sentinel_url("redis+sentinel://:s%40cret@h1:26380,h2,[::1]:26381/alertnet/3") == SentinelUrl(
        (("h1", 26380), ("h2", 26379), ("::1", 26381)), "alertnet", 3, None, "s@cret"
    )
    assert parse_sentinel_url("redis+sentinel://ops:pw@h:1/m") == SentinelUrl(
        (("h", 1),), "m", 0, "ops", "pw"
    )
    for bad in (
        "redis+sentinel:///m/0",
        "redis+sentinel://h:1",
        "redis+sentinel://h:x/m",
        "redis+sentinel://h/m/x",
    ):
        with pytest.raises(ValueError):
            parse_sentinel_url(bad)


def test_a_plain_url_needs_no_replica(redis_url: str) -> None:
    async def write() -> None:
        conn = connect_async(redis_url)  # min_replicas 0: durable asks nothing of the server
        await conn.set("an:test:durable", "1")
        await durable(conn)
        await conn.aclose()

    asyncio.run(write())


@pytest.mark.timeout(120)
def test_the_url_follows_the_primary_and_writes_wait_for_the_replica(sentinel_redis: SentinelRedis) -> None:
    async def write(min_replicas: int) -> None:
        conn = connect_async(sentinel_redis.url, min_replicas=min_replicas, wait_timeout_ms=300)
        try:
            await conn.set("an:test:durable", "1")
            await durable(conn)
        finally:
            await conn.aclose()

    asyncio.run(write(1))  # one replica: confirmed
    with pytest.raises(NotDurable):
        asyncio.run(write(2))  # two asked, one there: a failure to record (the API's 503)
    sync = connect_sync(sentinel_redis.url)
    assert sync.connection_pool.get_master_address()[1] == sentinel_redis.ports["a"]
    sync.close()


@pytest.mark.faults
@pytest.mark.timeout(900)
def test_primary_killed_mid_fanout_of_10000_officials_hub_follows_the_failover(
    sentinel_redis: SentinelRedis, tmp_path: Path
) -> None:
    env = base_env(
        sentinel_redis.url,
        tmp_path / "data",
        ALERTNET_REDIS_MIN_REPLICAS="1",
        ALERTNET_SIM_CALLBACK_DELAY="0.01",
        ALERTNET_PIPELINE_STALE_CLAIM_SECONDS="3",
        ALERTNET_PIPELINE_BACKOFF_BASE_SECONDS="0.05",
        ALERTNET_PIPELINE_MAX_ATTEMPTS="8",
        # Receipts lost in the failover are looked up at the provider soon.
        ALERTNET_PIPELINE_RECEIPT_OVERDUE_SECONDS="3",
        ALERTNET_ESCALATION_TIME_SCALE="1000",  # no escalation step may add messages of its own
    )
    stack = Stack(env, log_dir=tmp_path / "logs")
    stack.start_hub(workers=2)
    try:
        text = generate_registry(SIZE, seed=43)
        (tmp_path / "registry.csv").write_text(text)
        imported = stack.import_contacts(tmp_path / "registry.csv")
        assert imported.returncode == 0, imported.stderr
        officials = [o for o in parse_registry(text) if o.active]
        director = stack.add_sender("failover-director", "director")
        stack.set_faults(latency_ms=20)  # keeps the fan-out going long enough for the kill to land in it
        t0 = time.time()
        accepted = stack.post_alert(director, example_alert_request())
        assert accepted.status_code == 202, accepted.text
        alert_id = accepted.json()["id"]
        wait_for(lambda: len(stack.sim_messages("sms", t0)) >= 300, 120, "fan-out under way")

        sentinel_redis.kill("a")
        killed_at = time.monotonic()
        mobiles = Counter(o.mobile for o in officials if o.mobile)
        assert len(stack.sim_messages("sms", t0)) < sum(mobiles.values()), "the kill came after the last SMS"
        promoted = sentinel_redis.ports["b"]
        wait_for(lambda: sentinel_redis.primary_port() == promoted, 60, "replica promoted by the Sentinels")
        failover_seconds = time.monotonic() - killed_at
        # The old primary's host comes back, as the new primary's replica: min_replicas = 1 is met again.
        sentinel_redis.start_server("a", replica_of="b")
        stack.clear_faults()

        status = stack.wait_settled(director, alert_id, timeout=600)
        stack.check_alive()  # the API and both workers rode through the failover
        sms, calls, emails = (
            Counter(m["to"].lower() for m in stack.sim_messages(kind, t0) if alert_id in str(m))
            for kind in ("sms", "voice", "email")
        )
    finally:
        stack.stop_all()
    print(f"failover took {failover_seconds:.1f} s")
    channels = status["channels"]
    assert channels["sms"]["states"] == {"delivered": channels["sms"]["total"]}
    assert channels["voice"]["states"] == {"delivered": channels["voice"]["total"]}
    assert sms == mobiles
    assert calls == Counter(o.voice for o in officials if o.voice)
    assert set(emails) == {o.email.lower() for o in officials if o.email}
