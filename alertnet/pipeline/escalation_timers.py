"""Fires due escalation steps: for each, whoever is still unacknowledged gets the step's channels.

Timers live in Redis (a sorted set by due time), so a scheduler can stop and start without losing or
doubling a step, and several schedulers can run: a step is claimed by one of them (Lua) for a short
lease, and its deliveries, jobs and the timer's removal are written in one transaction, only while that
claim still holds. A scheduler killed mid-step leaves its claim to run out; another (or the same one,
restarted) then fires the step, and a claimant too slow to finish within its lease writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis
import structlog
from redis.asyncio import Redis

from alertnet.domain.escalation import (
    DueStep,
    Policy,
    Step,
    Whom,
    drop_already_sent,
    earlier_step_slots,
    plan_steps,
    step_targets,
    superseded,
    waiting_for,
)
from alertnet.domain.messages import Channel
from alertnet.domain.schools import SchoolKey, order_calls
from alertnet.pipeline.batches import QUEUE_FOR_PRIORITY, Batch, batch_sizes, plan_batches
from alertnet.pipeline.enqueue import HSET_CHUNK, Dispatcher
from alertnet.pipeline.messages import MessageLoader
from alertnet.pipeline.receipts import FAILOVER_SLOT
from alertnet.settings import Settings
from alertnet.store import keys as k
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore
from alertnet.store.polls import PollStore
from alertnet.store.registry import OfficialStore
from alertnet.store.scripts import CLAIM_DUE_STEPS

log = structlog.get_logger("alertnet.escalator")
# A step's claim: long enough for any step (50,000 officials take under a second), short enough that a
# step whose scheduler died fires seconds late, not minutes (and not dropped, overtaken by a repetition).
FIRING_LEASE_SECONDS = 5.0
WRITE_ATTEMPTS = 20
CLAIM_LIMIT = 100
RECIPIENT_CACHE_ALERTS = 16


class Escalator:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        dispatcher: Dispatcher,
        policies: list[Policy],
        messages: MessageLoader,
        officials: OfficialStore | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.dispatcher = dispatcher
        self.policies = {p.name: p for p in policies}
        self.messages = messages
        self.alerts = AlertStore(redis)
        self.acks = AckStore(redis)
        self.polls = PollStore(redis)
        self.officials = officials or OfficialStore(redis)  # the scheduler shares its services' copy
        self._claim = redis.register_script(CLAIM_DUE_STEPS)
        self._recipient_cache: dict[str, list[str]] = {}
        self._school_cache: dict[str, dict[str, SchoolKey]] = {}

    async def fire_due(self, now: float | None = None) -> int:
        """Fire every step due by `now`; returns how many were fired."""
        now = time.time() if now is None else now
        claimed = await self._claim(
            keys=[k.ESCALATION_DUE, k.ESCALATION_FIRING], args=[now, FIRING_LEASE_SECONDS, CLAIM_LIMIT]
        )
        fired = 0
        for i in range(0, len(claimed), 2):
            member = claimed[i].decode()
            try:
                if await self.fire(member, float(claimed[i + 1]), lease=now + FIRING_LEASE_SECONDS):
                    fired += 1
            except Exception:
                # The lease runs out and another tick (or scheduler) fires it again.
                log.exception("escalation_step_failed", step=member)
        return fired

    async def _recipients(self, alert_id: str) -> list[str]:
        """The alert's first recipients, sorted (they never change once it is sent, so kept here)."""
        found = self._recipient_cache.get(alert_id)
        if found is None:
            found = sorted(await self.acks.recipients(alert_id))
            self._recipient_cache[alert_id] = found
            while len(self._recipient_cache) > RECIPIENT_CACHE_ALERTS:
                self._recipient_cache.pop(next(iter(self._recipient_cache)))
        return found

    async def _schools(self, alert_id: str) -> dict[str, SchoolKey]:
        """The school of each first recipient, as recorded at send time (never changes: kept here)."""
        found = self._school_cache.get(alert_id)
        if found is None:
            found = await self.alerts.schools(alert_id)
            self._school_cache[alert_id] = found
            while len(self._school_cache) > RECIPIENT_CACHE_ALERTS:
                self._school_cache.pop(next(iter(self._school_cache)))
        return found

    async def _sent_by_earlier_steps(
        self, alert_id: str, waves: list[DueStep], step: int
    ) -> dict[Channel, set[str]]:
        """Whom waves of other steps already sent the alert to, per channel (a step's own repeats may
        send again; nobody gets the same alert twice on one channel from two steps)."""
        slots = earlier_step_slots(await self.alerts.slots(alert_id), waves, step)
        sent: dict[Channel, set[str]] = {}
        for slot, ids in (await self.alerts.slot_ids(alert_id, slots)).items():
            sent.setdefault(Channel(slot.split("@")[0]), set()).update(ids)
        return sent

    def _first_official_call(self, plan: dict[str, Any], steps: tuple[Step, ...], wave: int) -> bool:
        """True if `wave` is the first step that calls the officials themselves."""
        for info in sorted(plan["waves"], key=lambda w: w["wave"]):
            step = steps[info["step"]]
            if Channel.VOICE in step.channels and Whom.OFFICIAL in step.whom:
                return bool(info["wave"] == wave)
        return False

    async def fire(self, member: str, due: float, *, lease: float) -> bool:
        """Fire step `member`, claimed with `lease` (its score in the firing set); False if the claim ran
        out before it was written (someone else fires it) or the step was dropped."""
        alert_id, wave_text = member.split("|")
        wave = int(wave_text)
        bound = log.bind(alert_id=alert_id, wave=wave)
        message = await self.messages.get(alert_id)
        plan_raw = await self.redis.get(k.ESCALATION_PLAN + alert_id)
        closed = await self.redis.get(k.CLOSED_KEY + alert_id)
        if message is None or plan_raw is None or closed is not None:
            await self.redis.zrem(k.ESCALATION_FIRING, member)
            return False
        plan: dict[str, Any] = json.loads(plan_raw)
        info = next(w for w in plan["waves"] if w["wave"] == wave)
        due = float(info["due"])  # a step claimed again after its claim ran out comes back scored "now"
        waves = [DueStep(w["due"], w["step"], w["repetition"], w["wave"]) for w in plan["waves"]]
        # Late (the scheduler was down): a step overtaken by its own next repetition, or due after the
        # alert expired, is dropped rather than sent out of its time.
        expired = message.expires is not None and message.expires <= time.time()
        if expired or superseded(waves, wave, time.time()):
            await self.redis.zrem(k.ESCALATION_FIRING, member)
            reason = "alert expired" if expired else "overtaken by its next repetition"
            bound.warning(
                "escalation_step_dropped", step=info["step"], reason=reason, late=round(time.time() - due, 1)
            )
            return False
        steps = plan_steps(plan, self.policies)  # the version of the policy the alert started with
        step = steps[info["step"]]
        registry = (await self.officials.snapshot()).by_id
        acked = await self.acks.acked_ids(alert_id)
        recipients = await self._recipients(alert_id)
        schools = await self._schools(alert_id)
        needs_help = await self.polls.urgent_schools(alert_id)  # an urgent answer keeps its school waiting
        waiting = waiting_for(step, recipients, acked, registry, schools, needs_help)
        targets = step_targets(step, waiting, registry, schools)
        targets = drop_already_sent(targets, await self._sent_by_earlier_steps(alert_id, waves, info["step"]))
        if Channel.VOICE in targets:
            targets[Channel.VOICE] = order_calls(
                targets[Channel.VOICE], registry, self.settings.pipeline.call_order
            )
        if Channel.VOICE in targets and self._first_official_call(plan, steps, wave):
            # Officials whose SMS failed were called at once; this step's call came early for them.
            called = await self.alerts.delivery_ids(alert_id, FAILOVER_SLOT)
            targets[Channel.VOICE] = [i for i in targets[Channel.VOICE] if i not in called]
            if not targets[Channel.VOICE]:
                del targets[Channel.VOICE]
        slots = {f"{channel.value}@{wave}": ids for channel, ids in targets.items()}
        batches = plan_batches(
            alert_id, slots, batch_sizes(self.settings), QUEUE_FOR_PRIORITY[message.priority]
        )
        if not await asyncio.to_thread(self._store_step, alert_id, member, lease, slots, batches):
            bound.warning("escalation_claim_lost", step=info["step"], late=round(time.time() - due, 1))
            return False
        lateness = time.time() - due
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lpush(k.ESCALATION_LATENESS, f"{lateness:.4f}")
            pipe.ltrim(k.ESCALATION_LATENESS, 0, 9999)
            await pipe.execute()
        bound.info(
            "escalation_step_fired",
            step=info["step"],
            unacknowledged=len(waiting),
            targets={slot: len(ids) for slot, ids in slots.items()},
            lateness=round(lateness, 3),
        )
        return True

    def _store_step(
        self,
        alert_id: str,
        member: str,
        lease: float,
        slots: dict[str, list[str]],
        batches: list[Batch],
    ) -> bool:
        """The step's deliveries, jobs and the timer's removal, in one transaction, written only while our
        claim holds (the step is in the firing set with our lease: WATCHed, so a re-claim by another
        scheduler before EXEC aborts it). Whoever the step reaches may acknowledge the alert."""
        dispatcher = self.dispatcher
        now = time.time()
        reached = list(dict.fromkeys(i for ids in slots.values() for i in ids))
        for _ in range(WRITE_ATTEMPTS):
            with dispatcher.redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(k.ESCALATION_FIRING)
                    score = pipe.zscore(k.ESCALATION_FIRING, member)
                    if score is None or abs(float(score) - lease) > 1e-6:
                        return False
                    pipe.multi()
                    dispatcher._write_deliveries(pipe, alert_id, slots, now)
                    for start in range(0, len(reached), HSET_CHUNK):
                        pipe.sadd(k.REACHED_KEY + alert_id, *reached[start : start + HSET_CHUNK])
                    dispatcher._enqueue(pipe, batches, now)
                    pipe.zrem(k.ESCALATION_FIRING, member)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue  # another step was claimed or written meanwhile: look again
        raise RuntimeError(f"escalation step {member}: the firing set kept changing; its lease will run out")
