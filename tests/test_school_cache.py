"""The per-school view's in-process copies (`SchoolViewReads`, `SchoolService._states`) against a real Redis
(database 26): every read answers exactly what reading everything afresh answers, an ack recorded after a
read is in the next one, and concurrent readers of one alert agree."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from alertnet.domain.acks import Ack, AckChannel
from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.domain.schools import school_counts, school_map, school_states, schools_of_acks
from alertnet.domain.senders import Sender, SenderRole
from alertnet.services.schools import SchoolService
from alertnet.store import keys as k
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore, stage_alert
from alertnet.store.audit import AuditLog
from alertnet.store.registry import OfficialStore
from alertnet.store.server import RedisProcess

ALERT = "ALERT-SCHOOL-CACHE"
DIRECTOR = Sender("cache-director", SenderRole.DIRECTOR, "2026-01-01T00:00:00Z")


def official(oid: str, role: Role, school: str, district: str = "Columbia 93") -> Official:
    return Official(
        id=oid,
        name=f"Name of {oid}",
        role=role,
        school=school,
        district=district,
        county="Boone",
        region="Central",
        mobile=None,
        voice=None,
        email=f"{oid}@example.org",
        backup_id=None,
        subscriptions=frozenset({Subscription.ALERTS}),
    )


# Two spellings of one school, a school of the same name in another district, someone above a school,
# and an official the alert did not first go to (reached later by escalation, say).
TARGETED = [
    official("p1", Role.PRINCIPAL, "School 1"),
    official("s1", Role.SAFETY_COORDINATOR, "school 1"),
    official("p2", Role.PRINCIPAL, "School 2"),
    official("s2", Role.SAFETY_COORDINATOR, "School 2"),
    official("h1", Role.PRINCIPAL, "School 1", district="Hallsville R-IV"),
    official("sup", Role.SUPERINTENDENT, ""),
]
LATER = official("n2", Role.NURSE, "School 2")


@pytest.fixture
async def redis_db(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    conn = Redis.from_url(f"redis://127.0.0.1:{redis_server.port}/26")
    await conn.flushdb()
    yield conn
    await conn.flushdb()
    await conn.aclose()


def service(conn: Redis) -> SchoolService:
    return SchoolService(
        alerts=AlertStore(conn), acks=AckStore(conn), officials=OfficialStore(conn), audit=AuditLog(conn)
    )


async def afresh(conn: Redis) -> dict[str, object]:
    """The view as reading everything whole computes it (what the copies must always equal)."""
    targeted = await AlertStore(conn).schools(ALERT)
    acks = await AckStore(conn).acks(ALERT)
    registry = (await OfficialStore(conn).snapshot()).by_id
    states = school_states(targeted, acks, schools_of_acks(acks, targeted, registry))
    names = {i: o.name for i, o in registry.items() if i in acks}
    return {**school_counts(states), "schools": [s.to_dict(names) for s in states]}


async def view(schools: SchoolService) -> dict[str, object]:
    """What `SchoolService.schools` builds its answer from; the JSON the API answers (from each row's
    kept text) says the same, and so do the counts the view keeps."""
    read = await schools._states(ALERT)
    built = {**school_counts(read.states), "schools": [s.to_dict(read.names) for s in read.states]}
    assert read.counts() == school_counts(read.states)
    assert json.loads(await schools.schools_json(DIRECTOR, ALERT)) == {"id": ALERT, **built}
    return built


async def ack(conn: Redis, official_id: str, at: float) -> None:
    assert await AckStore(conn).record(Ack(ALERT, official_id, at, AckChannel.SMS))


async def test_every_read_equals_a_fresh_one_and_sees_the_acks_before_it(redis_db: Redis) -> None:
    conn = redis_db
    await OfficialStore(conn).import_officials([*TARGETED, LATER])
    async with conn.pipeline(transaction=True) as pipe:
        record = {"alert": {"sent": "2026-12-04T07:00:00+00:00"}}
        stage_alert(
            pipe,
            ALERT,
            json.dumps(record),
            created=time.time(),
            code="",
            recipients=[o.id for o in TARGETED],
            wants_ack=True,
            schools=school_map(TARGETED),
        )
        await pipe.execute()
    schools = service(conn)
    first = await view(schools)
    assert first == await afresh(conn)
    assert (first["targeted"], first["reached"]) == (3, 0)
    assert (await schools.schools(DIRECTOR, ALERT))["targeted"] == 3

    # Each ack shows in the very next read (no stale window), including one by someone not first targeted.
    for n, official_id in enumerate(["s1", "sup", "n2", "p1"]):
        await ack(conn, official_id, 1000.0 + n)
        assert await view(schools) == await afresh(conn)
        assert await schools.counts(ALERT) == {
            key: (await afresh(conn))[key] for key in ("targeted", "reached", "not_reached")
        }
    assert (await view(schools))["reached"] == 2

    # A process that starts now reads the same; readers at once agree with each other and with it.
    other = service(conn)
    await ack(conn, "h1", 2000.0)
    together = await asyncio.gather(*(view(schools) for _ in range(5)), view(other))
    assert all(answer == together[0] for answer in together)
    assert together[0] == await afresh(conn)
    assert together[0]["reached"] == 3

    # A later computation leaves the states an earlier caller holds as they were.
    held_read = await schools._states(ALERT)
    held, held_names = held_read.states, held_read.names
    before = [s.to_dict(held_names) for s in held]
    await ack(conn, "s2", 2500.0)
    assert await view(schools) == await afresh(conn)
    assert [s.to_dict(held_names) for s in held] == before

    # Should the ack hash ever be removed, the copies start again.
    await conn.delete(k.ACKS_KEY + ALERT)
    await ack(conn, "p2", 3000.0)
    assert await view(schools) == await afresh(conn)
    assert (await view(schools))["reached"] == 1
