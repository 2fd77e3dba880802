"""The Redis adapters against a real Redis: atomic state moves, idempotent imports, the batch sweep."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from typing import Any

import pytest
import redis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from alertnet.domain.acks import Ack, AckChannel
from alertnet.domain.deliveries import Delivery, DeliveryState
from alertnet.domain.links import Links
from alertnet.domain.messages import Content, Message, MessageKind, Priority
from alertnet.domain.receipts import ACCEPTED, DELIVERED
from alertnet.pipeline.batches import Batch, batch_sizes, plan_batches
from alertnet.pipeline.enqueue import Dispatcher
from alertnet.pipeline.messages import MessageLoader
from alertnet.pipeline.receipts import GroupCommit, ReceiptApplier
from alertnet.settings import load_settings
from alertnet.store import keys as k
from alertnet.store.acks import OPEN_ALERT_MAX_AGE_SECONDS, AckStore
from alertnet.store.alerts import AlertStore, StateMove, stage_alert
from alertnet.store.messages import MessageStore
from alertnet.store.registry import OfficialStore

S = DeliveryState


def test_plan_batches_splits_each_channel_and_puts_sms_first() -> None:
    batches = plan_batches(
        "A1", {"email": ["a", "b", "c"], "sms": ["a", "b", "c"]}, {"sms": 2, "email": 1000}, "q"
    )
    assert [(b.channel, b.official_ids) for b in batches] == [
        ("sms", ("a", "b")),
        ("sms", ("c",)),
        ("email", ("a", "b", "c")),
    ]
    assert len({b.id for b in batches}) == 3


def test_calls_wait_in_their_own_queue_behind_every_alerts_messages() -> None:
    recipients = {"voice": ["a", "b"], "email": ["a"], "sms": ["a", "b"], "voice@2": ["c"]}
    batches = plan_batches("A1", recipients, {"voice": 1}, k.QUEUE_CRITICAL)
    assert [(b.channel, b.queue) for b in batches] == [
        ("sms", k.QUEUE_CRITICAL),
        ("email", k.QUEUE_CRITICAL),
        ("voice", k.QUEUE_CALLS),
        ("voice", k.QUEUE_CALLS),
        ("voice@2", k.QUEUE_CALLS),
    ]
    # Workers take the calls after every alert's messages, before bulk sends; bulk stays bulk.
    assert k.QUEUES.index(k.QUEUE_HIGH) < k.QUEUES.index(k.QUEUE_CALLS) < k.QUEUES.index(k.QUEUE_NOTICE)
    assert k.QUEUES.index(k.QUEUE_NOTICE) < k.QUEUES.index(k.QUEUE_BULK)
    assert {b.queue for b in plan_batches("A2", recipients, {}, k.QUEUE_BULK)} == {k.QUEUE_BULK}


def test_paced_channels_get_batches_of_a_few_seconds() -> None:
    settings = load_settings(env={})
    assert batch_sizes(settings) == {"sms": 500, "voice": 200, "email": 1000}
    paced = settings.replace(
        twilio=dataclasses.replace(settings.twilio, sms_rate_per_sender=1.0, calls_per_second=1.0)
    )
    # Two long codes at one segment a second, one call a second: 5 s of work per batch.
    assert batch_sizes(paced) == {"sms": 10, "voice": 5, "email": 1000}


def _fan_out(
    dispatcher: Dispatcher,
    alert_id: str,
    ids: list[str],
    batches: list[Batch],
    *,
    created: float,
    wants_ack: bool = False,
    record: str = '{"alert": {}}',
) -> None:
    """An alert's fan-out: its message, deliveries and jobs, and its record, in one transaction."""
    message = Message(
        alert_id, MessageKind.ALERT, Priority.CRITICAL, wants_ack, False, Content(sms="x"), created
    )
    stage = functools.partial(
        stage_alert,
        alert_id=alert_id,
        record_json=record,
        created=created,
        code="",
        recipients=ids,
        wants_ack=wants_ack,
    )
    dispatcher.fan_out(message, {"sms": ids}, batches, also=[stage])


def _store_alert(url: str, ids: list[str]) -> Dispatcher:
    dispatcher = Dispatcher(redis.Redis.from_url(url))
    batches = plan_batches("A1", {"sms": ids}, {"sms": 2}, k.QUEUE_CRITICAL)
    _fan_out(dispatcher, "A1", ids, batches, created=time.time())
    return dispatcher


def test_store_and_enqueue_writes_everything_in_one_go(fresh_redis_url: str) -> None:
    dispatcher = _store_alert(fresh_redis_url, ["o1", "o2", "o3"])
    conn = dispatcher.redis
    assert conn.hlen(k.DELIVERY_KEY + "A1:sms") == 3
    assert conn.hget(k.COUNTS_KEY + "A1", "sms:queued") == b"3"
    assert dispatcher.queues[k.QUEUE_CRITICAL].count == 2
    assert conn.zcard(k.BATCH_LEASES) == 2


async def _moves(url: str) -> None:
    conn = Redis.from_url(url)
    store = AlertStore(conn)
    try:
        claim = [StateMove(i, S.SENDING, frozenset({S.QUEUED, S.RETRYING})) for i in ("o1", "o2", "o3")]
        assert await store.move("A1", "sms", claim) == [True, True, True]
        # A second claim (a retried job, a second worker) gets nothing.
        assert await store.move("A1", "sms", claim) == [False, False, False]
        sent = StateMove("o1", S.SENT, frozenset({S.SENDING}), provider_id="SM1")
        refused = StateMove("o2", S.SENT, frozenset({S.QUEUED}), provider_id="SM2")
        assert await store.move("A1", "sms", [sent, refused], index_provider_ids=True) == [True, False]
        # Whose each provider id is, written with the move that was made (and only with it).
        assert await conn.get(k.PROVIDER_INDEX + "SM1") == b"A1.sms.o1"
        assert 0 < await conn.ttl(k.PROVIDER_INDEX + "SM1") <= 2 * 86400
        assert await conn.get(k.PROVIDER_INDEX + "SM2") is None
        # A delivery with a provider id is never claimed again, even from a stale 'sending' cutoff.
        reclaim = StateMove("o1", S.SENDING, frozenset({S.SENDING, S.SENT}))
        assert await store.move("A1", "sms", [reclaim], claim_cutoff=time.time() + 100) == [False]
        # A stale claim (its worker died) can be taken over only after the cutoff.
        stale = StateMove("o2", S.SENDING, frozenset({S.SENDING}))
        assert await store.move("A1", "sms", [stale], claim_cutoff=time.time() - 100) == [False]
        assert await store.move("A1", "sms", [stale], claim_cutoff=time.time() + 1) == [True]
        late = StateMove("o1", S.SENT, frozenset({S.SENDING}))
        done = StateMove("o1", S.DELIVERED, frozenset({S.SENDING, S.SENT}))
        assert await store.move("A1", "sms", [done, late]) == [True, False]  # never walks back
        deliveries = await store.deliveries("A1", "sms")
        assert deliveries["o1"] == Delivery(
            S.DELIVERED, 1, "SM1", None, deliveries["o1"].updated, deliveries["o1"].claimed
        )
        assert deliveries["o2"].attempts == 2
        # The takeover remembers when the unknown attempt began, through any further takeover...
        first_claim = deliveries["o3"].claimed
        assert deliveries["o2"].unknown_since is not None and deliveries["o3"].unknown_since is None
        unknown_since = deliveries["o2"].unknown_since
        assert await store.move("A1", "sms", [stale], claim_cutoff=time.time() + 1) == [True]
        assert (await store.deliveries("A1", "sms"))["o2"].unknown_since == unknown_since
        assert first_claim is not None and unknown_since >= first_claim - 1
        # ...and forgets it once the outcome is known.
        retry = StateMove("o2", S.RETRYING, frozenset({S.SENDING}))
        assert await store.move("A1", "sms", [retry]) == [True]
        assert (await store.deliveries("A1", "sms"))["o2"].unknown_since is None
        assert await store.move("A1", "sms", [StateMove("o2", S.SENDING, frozenset({S.RETRYING}))]) == [True]
        # A claim after a refusal (its outcome known) starts no unknown attempt.
        assert (await store.deliveries("A1", "sms"))["o2"].unknown_since is None
        progress = await store.progress("A1")
        assert progress.counts["sms"] == {"delivered": 1, "sending": 2}
        assert not progress.settled
    finally:
        await conn.aclose()


def test_state_moves_are_atomic_and_never_double_claim(fresh_redis_url: str) -> None:
    _store_alert(fresh_redis_url, ["o1", "o2", "o3"])
    asyncio.run(_moves(fresh_redis_url))


class _CountedMoves(AlertStore):
    steps = 0

    async def move(self, *args: Any, **kwargs: Any) -> list[bool]:
        type(self).steps += 1
        return await super().move(*args, **kwargs)


def _applier(url: str, alerts: AlertStore) -> ReceiptApplier:
    conn = alerts.redis
    return ReceiptApplier(
        load_settings(env={}),
        alerts=alerts,
        acks=AckStore(conn),
        officials=OfficialStore(conn),
        messages=MessageLoader(MessageStore(conn), alerts, Links("http://hub.test")),
        dispatcher=Dispatcher(redis.Redis.from_url(url)),
    )


async def _callbacks_together(url: str) -> None:
    conn = Redis.from_url(url)
    ids = [f"o{n}" for n in range(7)]
    try:
        store = _CountedMoves(conn)
        claim = [StateMove(i, S.SENDING, frozenset({S.QUEUED})) for i in ids]
        assert await store.move("A1", "sms", claim) == [True] * 7
        _CountedMoves.steps = 0
        together = GroupCommit(_applier(url, store), most=4)
        # Callbacks arriving at once: each delivery's "sent" and then its "delivered" (o0 only "sent").
        calls = [together.apply(f"A1.sms.{i}", ACCEPTED, f"SM{i}") for i in ids]
        calls += [together.apply(f"A1.sms.{i}", DELIVERED, f"SM{i}") for i in ids[1:]]
        await asyncio.gather(*calls)
        # 13 receipts in steps of at most 4 (not 13 round trips), each applied in its order.
        assert _CountedMoves.steps == 4
        deliveries = await store.deliveries("A1", "sms")
        assert [deliveries[i].state for i in ids] == [S.SENT] + [S.DELIVERED] * 6
        assert await conn.get(k.PROVIDER_INDEX + "SMo3") == b"A1.sms.o3"
        # A lone callback goes at once, in a step of its own.
        await asyncio.wait_for(together.apply("A1.sms.o0", DELIVERED, "SM0"), 5)
        assert (await store.deliveries("A1", "sms"))["o0"].state is S.DELIVERED
    finally:
        await conn.aclose()


async def _step_fails(url: str) -> None:
    gone = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))  # nobody listens
    together = GroupCommit(_applier(url, AlertStore(gone)))
    try:
        calls = [together.apply(f"A1.sms.o{n}", DELIVERED, "") for n in range(3)]
        answers = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
        # Every request waiting on the step gets its error (a 503 to the provider, who sends it again).
        assert all(isinstance(a, redis.ConnectionError) for a in answers), answers
        with pytest.raises(redis.ConnectionError):  # and the next step is tried afresh
            await asyncio.wait_for(together.apply("A1.sms.o0", DELIVERED, ""), 10)
    finally:
        await gone.aclose()


def test_callbacks_that_arrive_together_are_applied_together_in_order(fresh_redis_url: str) -> None:
    _store_alert(fresh_redis_url, [f"o{n}" for n in range(7)])
    asyncio.run(_callbacks_together(fresh_redis_url))
    asyncio.run(_step_fails(fresh_redis_url))


def test_sweep_leaves_queued_batches_and_requeues_dead_ones(fresh_redis_url: str) -> None:
    dispatcher = _store_alert(fresh_redis_url, ["o1", "o2", "o3"])
    later = time.time() + k.BATCH_LEASE_SECONDS + 1
    # Jobs still waiting in the queue are not stalled.
    assert dispatcher.sweep_stalled_batches(later) == []
    queue = dispatcher.queues[k.QUEUE_CRITICAL]
    job = queue.dequeue_any([queue], None, connection=dispatcher.redis)
    assert job is not None
    started, _queue = job
    started.set_status("started")
    # Its worker "died": no lease renewal; the sweep puts exactly that batch back, once.
    requeued = dispatcher.sweep_stalled_batches(later + k.BATCH_LEASE_SECONDS + 1)
    assert requeued == [started.id]
    assert dispatcher.sweep_stalled_batches(later + k.BATCH_LEASE_SECONDS + 1) == []
    assert queue.count == 2


@pytest.mark.parametrize("attempt,expected", [(1, 0.5), (2, 1.0), (3, 2.0), (10, 60.0)])
def test_backoff_doubles_up_to_a_cap(attempt: int, expected: float) -> None:
    from alertnet.domain.deliveries import backoff_seconds

    assert backoff_seconds(attempt, 0.5) == expected


async def _pace(url: str) -> tuple[float, list[str]]:
    from alertnet.pipeline.pacing import Pacer

    conn = Redis.from_url(url)
    try:
        pacer = Pacer(conn, "test", ("+15735550190", "+15735550191"), rate=20.0)
        start = time.monotonic()
        senders = [await pacer.acquire(critical=True) for _ in range(41)]
        return time.monotonic() - start, senders
    finally:
        await conn.aclose()


def test_pacer_keeps_each_sender_to_its_rate_and_spreads_the_load(fresh_redis_url: str) -> None:
    elapsed, senders = asyncio.run(_pace(fresh_redis_url))
    # 41 sends over two senders at 20/s each: the 41st slot starts no earlier than 1 s in.
    assert elapsed >= 0.95
    assert abs(senders.count("+15735550190") - senders.count("+15735550191")) <= 1


def test_a_bare_ack_finds_the_newest_open_alert_that_reached_the_official(fresh_redis_url: str) -> None:
    dispatcher = Dispatcher(redis.Redis.from_url(fresh_redis_url))
    now = time.time()

    def send(alert_id: str, ids: list[str], created: float) -> None:
        batches = plan_batches(alert_id, {"sms": ids}, {"sms": 10}, k.QUEUE_CRITICAL)
        _fan_out(dispatcher, alert_id, ids, batches, created=created, wants_ack=True, record="{}")

    send("OLD", ["o1", "o2"], now - OPEN_ALERT_MAX_AGE_SECONDS - 60)
    send("A", ["o1", "o2"], now - 20)
    send("B", ["o1"], now - 10)
    # o3 is o2's backup, reached by an escalation wave of A only.
    dispatcher.store_wave_and_enqueue("A", "", {"sms@2": ["o3"]}, [])

    async def check() -> None:
        conn = Redis.from_url(fresh_redis_url)
        acks = AckStore(conn)
        try:
            assert await acks.newest_open_alert(["o1"]) == ("B", "o1")
            assert await acks.newest_open_alert(["o2"]) == ("A", "o2")
            assert await acks.newest_open_alert(["o3"]) == ("A", "o3")
            assert await acks.newest_open_alert(["o4"]) is None
            assert await acks.was_contacted("A", "o3") and not await acks.was_contacted("B", "o3")
            # Once o1 acknowledged B, the next bare "1" is for A; the week-old alert is never chosen.
            assert await acks.record(Ack("B", "o1", time.time(), AckChannel.SMS))
            assert not await acks.record(Ack("B", "o1", time.time(), AckChannel.WEB))
            assert await acks.newest_open_alert(["o1"]) == ("A", "o1")
            assert await acks.record(Ack("A", "o1", time.time(), AckChannel.SMS))
            assert await acks.newest_open_alert(["o1"]) is None
            # A closed alert (cancelled, all clear) is not open any more.
            await acks.close("A")
            assert await acks.newest_open_alert(["o2", "o3"]) is None
        finally:
            await conn.aclose()

    asyncio.run(check())
