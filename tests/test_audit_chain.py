"""The audit trail is tamper-evident: each entry carries the hash of the one before, appended atomically
by several processes in one order, pinned by signed checkpoints; `alertnet audit verify` reports the first
edited, inserted or deleted entry, and a rebuilt chain."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from alertnet.domain.audit_chain import GENESIS, entry_hash, first_problem
from alertnet.store import keys as k
from alertnet.store.audit import AuditLog

REPO = Path(__file__).resolve().parent.parent


def _verify(url: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": url, "ALERTNET_DATA_DIR": str(data), "ALERTNET_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "alertnet", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def _checkpoint(url: str, data: Path) -> None:
    env = {**os.environ, "REDIS_URL": url, "ALERTNET_DATA_DIR": str(data), "ALERTNET_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [sys.executable, "-m", "alertnet", "audit", "checkpoint"],
        env=env,
        check=True,
        capture_output=True,
        cwd=REPO,
    )


async def _append(url: str, n: int, actor: str) -> None:
    conn = Redis.from_url(url)
    try:
        log = AuditLog(conn)
        await asyncio.gather(
            *(log.record(actor=actor, action="test", outcome="accepted", n=i) for i in range(n))
        )
    finally:
        await conn.aclose()


def _append_from_processes(url: str, processes: int, each: int) -> None:
    """Append from several OS processes at once, as several API processes do."""
    code = (
        "import asyncio, sys; from tests.test_audit_chain import _append; "
        "asyncio.run(_append(sys.argv[1], int(sys.argv[2]), sys.argv[3]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url, str(each), f"p{n}"], cwd=REPO)
        for n in range(processes)
    ]
    assert all(p.wait(timeout=60) == 0 for p in procs)


def _entries(conn: redis.Redis) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return list(conn.xrange(k.AUDIT_STREAM))


def test_entries_from_several_processes_form_one_chain(fresh_redis_url: str, tmp_path: Path) -> None:
    _append_from_processes(fresh_redis_url, processes=3, each=40)
    conn = redis.Redis.from_url(fresh_redis_url)
    entries = _entries(conn)
    assert len(entries) == 120
    prev = GENESIS
    for _id, fields in entries:
        decoded = {key.decode(): value.decode() for key, value in fields.items()}
        assert decoded["prev"] == prev and decoded["hash"] == entry_hash(prev, decoded)
        prev = decoded["hash"]
    assert conn.get(k.AUDIT_HEAD) == prev.encode()
    verified = _verify(fresh_redis_url, tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "audit trail intact: 120 entries" in verified.stdout


def _rewrite(conn: redis.Redis, entries: list[tuple[str, dict[str, str]]]) -> None:
    """Put the stream back as `entries` (ids kept): how someone with write access to Redis edits it."""
    conn.delete(k.AUDIT_STREAM)
    for entry_id, fields in entries:
        conn.xadd(k.AUDIT_STREAM, fields, id=entry_id)


def test_each_edit_insert_and_delete_is_reported(fresh_redis_url: str, tmp_path: Path) -> None:
    asyncio.run(_append(fresh_redis_url, 10, "director"))
    conn = redis.Redis.from_url(fresh_redis_url)
    entries = [(i.decode(), {key.decode(): v.decode() for key, v in f.items()}) for i, f in _entries(conn)]
    assert _verify(fresh_redis_url, tmp_path).returncode == 0
    fifth_id, fifth = entries[4]
    sixth_id = entries[5][0]

    # Edited: the fifth entry's outcome changed in place.
    _rewrite(conn, [*entries[:4], (fifth_id, {**fifth, "outcome": "refused"}), *entries[5:]])
    result = _verify(fresh_redis_url, tmp_path)
    assert result.returncode == 1 and f"{fifth_id}: edited" in result.stderr, result.stderr

    # Deleted: the fifth entry taken out; the sixth no longer follows the fourth.
    _rewrite(conn, [*entries[:4], *entries[5:]])
    result = _verify(fresh_redis_url, tmp_path)
    assert result.returncode == 1 and f"{sixth_id}: deleted" in result.stderr, result.stderr

    # Inserted: an entry forged to follow the fifth, put between the fifth and the sixth.
    forged = {"ts": fifth["ts"], "actor": "intruder", "action": "send_alert", "outcome": "accepted"}
    forged = {**forged, "detail": "{}", "prev": fifth["hash"]}
    forged["hash"] = entry_hash(forged["prev"], forged)
    ms, seq = fifth_id.split("-")
    inserted_id = f"{ms}-{int(seq) + 1}"
    later = [(f"{int(e[0].split('-')[0]) + 1}-{e[0].split('-')[1]}", e[1]) for e in entries[5:]]
    _rewrite(conn, [*entries[:5], (inserted_id, forged), *later])
    result = _verify(fresh_redis_url, tmp_path)
    assert result.returncode == 1 and f"{inserted_id}: inserted" in result.stderr, result.stderr

    # The newest entry deleted: the chain ends before its head.
    _rewrite(conn, entries[:-1])
    result = _verify(fresh_redis_url, tmp_path)
    assert result.returncode == 1 and f"{entries[-2][0]}: deleted" in result.stderr, result.stderr

    _rewrite(conn, entries)
    assert _verify(fresh_redis_url, tmp_path).returncode == 0


def test_a_rebuilt_chain_is_caught_by_a_signed_checkpoint(fresh_redis_url: str, tmp_path: Path) -> None:
    asyncio.run(_append(fresh_redis_url, 6, "director"))
    _checkpoint(fresh_redis_url, tmp_path)
    conn = redis.Redis.from_url(fresh_redis_url)
    entries = [(i.decode(), {key.decode(): v.decode() for key, v in f.items()}) for i, f in _entries(conn)]
    # Someone with write access to Redis but not the signing key rebuilds the whole chain consistently.
    conn.delete(k.AUDIT_STREAM)
    prev = GENESIS
    for entry_id, fields in entries:
        fields = {**fields, "actor": "rewritten", "prev": prev}
        fields["hash"] = entry_hash(prev, fields)
        conn.xadd(k.AUDIT_STREAM, fields, id=entry_id)
        prev = fields["hash"]
    conn.set(k.AUDIT_HEAD, prev)
    result = _verify(fresh_redis_url, tmp_path)
    assert result.returncode == 1 and f"{entries[-1][0]}: rewritten" in result.stderr
    # A checkpoint forged without the key is refused too.
    point = conn.hget(k.AUDIT_CHECKPOINTS, entries[-1][0])
    assert point is not None
    conn.hset(k.AUDIT_CHECKPOINTS, entries[-1][0], point.replace(b'"signature": "', b'"signature": "AAAA'))
    result = _verify(fresh_redis_url, tmp_path)
    assert result.returncode == 1 and "checkpoint: signature does not hold" in result.stderr


@pytest.mark.parametrize("legacy", [0, 3])
def test_entries_written_before_the_chain_are_skipped(legacy: int) -> None:
    old = [
        (f"1-{n}", {"ts": "1", "actor": "a", "action": "x", "outcome": "y", "detail": "{}"})
        for n in range(legacy)
    ]
    chained = []
    prev = GENESIS
    for n in range(3):
        fields = {"ts": "2", "actor": "a", "action": "x", "outcome": "y", "detail": "{}", "prev": prev}
        fields["hash"] = entry_hash(prev, fields)
        chained.append((f"2-{n}", fields))
        prev = fields["hash"]
    assert first_problem([*old, *chained], head=prev) is None
    problem = first_problem([*old, *chained, ("3-0", old[0][1] if old else {"ts": "3"})], head=prev)
    assert problem is not None and problem.entry_id == "3-0"
