"""The registry snapshot at state size: never a reload on the request path, reloads that read only what an
import changed (`alertnet.store.registry_changes`), and officials small enough to hold by the hundred
thousand. Against a real Redis (database 25 of the suite's server); reloads are held and released
through the store's `before_reload` hook, not by sleeping."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from redis.asyncio import Redis

from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.store import keys as k
from alertnet.store import registry_changes
from alertnet.store.registry import OfficialStore, RegistrySnapshot
from alertnet.store.server import RedisProcess

DB = 25


@pytest.fixture
def url(redis_server: RedisProcess) -> Iterator[str]:
    url = f"redis://127.0.0.1:{redis_server.port}/{DB}"
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    yield url
    conn.flushdb()
    conn.close()


@pytest.fixture
async def conn(url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(url)
    yield client
    await client.aclose()


def official(n: int, **changes: object) -> Official:
    found = Official(
        id=f"of-{n:05d}",
        name=f"Official {n}",
        role=Role.PRINCIPAL,
        school=f"School {n % 7}",
        district=f"District {n % 3}",
        county="Adams",
        region="North",
        mobile=f"+1555{n:07d}",
        voice=None,
        email=f"o{n}@example.org",
        backup_id=None,
        subscriptions=frozenset({Subscription.ALERTS}),
    )
    return dataclasses.replace(found, **changes)  # type: ignore[arg-type]


REGISTRY = [official(n) for n in range(40)]


class Gate:
    """A `before_reload` hook that holds every reload until released, and counts them."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        self.started.set()
        await self.release.wait()


async def fresh(conn: Redis) -> RegistrySnapshot:
    """The registry as a process starting now would load it."""
    return await OfficialStore(conn).snapshot()


async def settled(store: OfficialStore) -> RegistrySnapshot:
    """The snapshot once the reload in progress (if any) is done."""
    store.reload_wait = 30.0
    try:
        return await store.snapshot()
    finally:
        store.reload_wait = 0.0


async def test_the_previous_snapshot_serves_while_one_reload_runs(conn: Redis) -> None:
    store = OfficialStore(conn, reload_wait=0.0)
    await store.import_officials(REGISTRY)
    before = await store.snapshot()
    assert len(before.by_id) == 40

    gate = Gate()
    store.before_reload = gate
    await OfficialStore(conn).import_officials([official(0, mobile="+15559999999"), *REGISTRY[1:]])
    served = await asyncio.gather(*(store.snapshot() for _ in range(5)))
    await gate.started.wait()
    assert all(s is before for s in served)  # at once, the previous version
    assert (await store.snapshot()) is before
    assert gate.calls == 1  # one reload, however many callers

    gate.release.set()
    after = await settled(store)
    assert after.version != before.version
    assert after.by_id["of-00000"].mobile == "+15559999999"
    assert gate.calls == 1 and store.last_reload == "incremental"


async def test_a_small_reload_is_waited_for_within_the_budget(conn: Redis) -> None:
    store = OfficialStore(conn, reload_wait=5.0)
    await store.import_officials(REGISTRY)
    await store.snapshot()
    await OfficialStore(conn).import_officials([*REGISTRY, official(99)])
    assert "of-00099" in (await store.snapshot()).by_id  # a quick reload: no stale answer needed
    assert store.last_reload == "incremental"


async def test_an_incremental_reload_reads_exactly_what_changed(conn: Redis) -> None:
    store = OfficialStore(conn, reload_wait=0.0)
    await store.import_officials(REGISTRY)
    first = await store.snapshot()

    edited = [
        official(3, name="Renamed Three"),
        *(o for o in REGISTRY if o.id not in {"of-00003", "of-00007"}),
    ]
    summary = await OfficialStore(conn).import_officials([*edited, official(40)])  # 7 left out: deactivated
    assert (summary.added, summary.updated, summary.deactivated) == (1, 1, 1)
    current = (await conn.get(k.REGISTRY_VERSION)).decode()
    assert await registry_changes.changed_since(conn, first.version, current) == {
        "of-00003",
        "of-00007",
        "of-00040",
    }
    # A second import on top: the reload follows both links.
    await OfficialStore(conn).import_officials([official(41)], full=False)

    after = await settled(store)
    assert store.last_reload == "incremental"
    assert after.by_id == (await fresh(conn)).by_id
    assert after.by_id["of-00003"].name == "Renamed Three"
    assert after.by_id["of-00007"].active is False
    assert {"of-00040", "of-00041"} <= after.by_id.keys()
    assert after.by_id["of-00011"] is first.by_id["of-00011"]  # the unchanged were not read again


async def test_a_process_sees_its_own_import_without_a_reload(conn: Redis) -> None:
    store = OfficialStore(conn, reload_wait=0.0)
    await store.import_officials(REGISTRY)
    before = await store.snapshot()
    gate = Gate()
    store.before_reload = gate
    await store.import_officials([official(0, name="Mine"), *REGISTRY[1:]])
    mine = await store.snapshot()
    assert mine.version == (await conn.get(k.REGISTRY_VERSION)).decode() != before.version
    assert mine.by_id["of-00000"].name == "Mine" and mine.by_id == (await fresh(conn)).by_id
    assert gate.calls == 0


async def test_a_broken_chain_falls_back_to_a_full_reload(conn: Redis) -> None:
    store = OfficialStore(conn, reload_wait=0.0)
    await store.import_officials(REGISTRY)
    await store.snapshot()
    await OfficialStore(conn).import_officials([official(0, name="Zero"), *REGISTRY[1:]])
    current = (await conn.get(k.REGISTRY_VERSION)).decode()
    await conn.delete(k.REGISTRY_CHANGES + current)  # expired
    after = await settled(store)
    assert store.last_reload == "full"
    assert after.version == current and after.by_id["of-00000"].name == "Zero"


async def test_an_import_changing_too_many_records_a_full_reload(
    conn: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OfficialStore(conn, reload_wait=0.0)
    await store.import_officials(REGISTRY)
    await store.snapshot()
    monkeypatch.setattr(registry_changes, "MAX_RECORDED", 5)
    await OfficialStore(conn).import_officials([official(n, region="South") for n in range(40)])
    current = (await conn.get(k.REGISTRY_VERSION)).decode()
    record = await conn.lrange(k.REGISTRY_CHANGES + current, 0, -1)
    assert record[1:] == [registry_changes.WHOLE.encode()]
    assert 0 < await conn.ttl(k.REGISTRY_CHANGES + current) <= registry_changes.CHANGES_TTL_SECONDS
    after = await settled(store)
    assert store.last_reload == "full"
    assert {o.region for o in after.by_id.values()} == {"South"}


async def test_an_empty_snapshot_is_not_served_once_the_registry_is_filled(conn: Redis) -> None:
    store = OfficialStore(conn, reload_wait=0.0)
    empty = await store.snapshot()
    assert empty.by_id == {} and empty.version == ""

    gate = Gate()
    store.before_reload = gate
    await OfficialStore(conn).import_officials(REGISTRY)
    waiting = asyncio.create_task(store.snapshot())
    await gate.started.wait()
    assert not waiting.done()  # the first import is waited for, not answered with nobody
    gate.release.set()
    loaded = await waiting
    assert len(loaded.by_id) == 40 and loaded.version != ""


async def test_the_first_load_of_a_process_waits(conn: Redis) -> None:
    await OfficialStore(conn).import_officials(REGISTRY)
    store = OfficialStore(conn, reload_wait=0.0)
    assert len((await store.snapshot()).by_id) == 40
    assert store.last_reload == "full"


def test_an_official_is_slotted_picklable_and_shares_its_repeated_values() -> None:
    one = official(1)
    assert not hasattr(one, "__dict__")
    assert pickle.loads(pickle.dumps(one)) == one
    assert dataclasses.replace(one, active=False).active is False
    a, b = Official.from_json(official(1).to_json()), Official.from_json(official(8).to_json())
    assert a.school is b.school and a.county is b.county and a.region is b.region
    assert a.subscriptions is b.subscriptions
    assert Official.from_json(a.to_json()) == a
    with pytest.raises(ValueError):
        Official.from_json(a.to_json().replace('["alerts"]', '"alerts"'))
