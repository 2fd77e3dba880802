"""Answers to alerts' status checks (polls) in Redis: each official's latest answer, every answer kept, each
school's latest answer, the newest open poll that reached an official, and the urgent notices sent."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from alertnet.domain.polls import PollAnswer
from alertnet.domain.schools import SchoolKey, encode_school, same_school
from alertnet.store import keys as k
from alertnet.store.durable import durable
from alertnet.store.webhooks import KEPT_SECONDS as HANDLED_KEPT_SECONDS

OPEN_POLL_MAX_AGE_SECONDS = 7 * 86400  # as for a bare "1": a week-old question is not what "2" answers
OPEN_POLL_LOOKUP = 50  # the newest open alerts looked at for one reply
NOTIFIED_KEPT_SECONDS = 30 * 86400
ANSWER_TAKEN = ":answer"  # + after a provider request's marker: the answer it carried is kept


def _school_field(key: SchoolKey) -> str:
    return encode_school(same_school(key))


class PollStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def record(self, answer: PollAnswer, *, handled: str | None = None) -> bool:
        """Keep an answer: it becomes the official's latest and their school's latest, and joins the
        history; an urgent one's notice becomes due (one transaction: an answer kept is a notice owed,
        whatever happens to the process that took it). `handled`: the marker of the provider request that
        carried it (held by its handler, so no other handles it meanwhile): a retry of a request whose
        answer was kept (its handler died before the ack) keeps nothing again and returns False."""
        taken = None if handled is None else handled + ANSWER_TAKEN
        if taken is not None and await self.redis.exists(taken):
            return False
        raw = answer.to_json()
        async with self.redis.pipeline(transaction=True) as pipe:
            if taken is not None:
                pipe.set(taken, "1", ex=HANDLED_KEPT_SECONDS)
            pipe.hset(k.POLL_LATEST + answer.alert_id, answer.official_id, raw)
            pipe.rpush(k.POLL_HISTORY + answer.alert_id, raw)
            if answer.school is not None:
                pipe.hset(k.POLL_SCHOOLS + answer.alert_id, _school_field(answer.school), raw)
            if answer.urgent:
                due = _notice(answer.alert_id, answer.official_id, answer.number)
                pipe.zadd(k.POLL_NOTICES_DUE, {due: answer.at}, nx=True)
            await pipe.execute()
        await durable(self.redis)
        return True

    async def latest(self, alert_id: str) -> dict[str, PollAnswer]:
        """Official id -> their latest answer."""
        raw = await self.redis.hgetall(k.POLL_LATEST + alert_id)
        return {key.decode(): PollAnswer.from_json(value) for key, value in raw.items()}

    async def latest_of(self, alert_id: str, official_id: str) -> PollAnswer | None:
        raw = await self.redis.hget(k.POLL_LATEST + alert_id, official_id)
        return None if raw is None else PollAnswer.from_json(raw)

    async def history(self, alert_id: str) -> list[PollAnswer]:
        """Every answer to the alert's poll, oldest first."""
        return [PollAnswer.from_json(r) for r in await self.redis.lrange(k.POLL_HISTORY + alert_id, 0, -1)]

    async def urgent_schools(self, alert_id: str) -> set[SchoolKey]:
        """The schools (`same_school` keys) whose latest answer is urgent: they are not reached yet for an
        escalation step that stops per school."""
        raw = await self.redis.hvals(k.POLL_SCHOOLS + alert_id)
        answers = [PollAnswer.from_json(r) for r in raw]
        return {same_school(a.school) for a in answers if a.urgent and a.school is not None}

    async def newest_open_poll(self, official_ids: Sequence[str]) -> tuple[str, str, dict[str, Any]] | None:
        """(alert id, official id, stored record) of the newest open alert (not closed, a week old at
        most) that asks a question and reached one of these officials, first or by escalation, whether or
        not they answered it already."""
        if not official_ids:
            return None
        oldest = time.time() - OPEN_POLL_MAX_AGE_SECONDS
        ids = [
            m.decode()
            for m in await self.redis.zrevrangebyscore(
                k.POLL_OPEN, "+inf", oldest, start=0, num=OPEN_POLL_LOOKUP
            )
        ]
        if not ids:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            for alert_id in ids:
                pipe.smismember(k.RECIPIENTS_KEY + alert_id, list(official_ids))
                pipe.smismember(k.REACHED_KEY + alert_id, list(official_ids))
            flags = await pipe.execute()
        reached: list[tuple[str, str]] = []
        for n, alert_id in enumerate(ids):
            first, escalated = flags[2 * n], flags[2 * n + 1]
            who = [o for o, a, b in zip(official_ids, first, escalated, strict=True) if a or b]
            if who:
                reached.append((alert_id, who[0]))
        for alert_id, official_id in reached:
            raw = await self.redis.get(k.ALERT_KEY + alert_id)
            record = None if raw is None else json.loads(raw)
            if record and record.get("alert", {}).get("poll"):
                return alert_id, official_id, dict(record)
        return None

    async def claim_notice(self, alert_id: str, official_id: str, number: int, *, lease: float) -> bool:
        """True when this caller is to send the urgent answer's notice now: it was not sent, and nobody
        is sending it (a claim lapses after `lease` seconds, so one whose sender died is taken over).
        A notice found sent is no longer due."""
        key = _notified(alert_id, official_id, number)
        if await self.redis.set(key, "sending", nx=True, px=max(1, int(lease * 1000))):
            return True
        if await self.redis.get(key) == b"sent":
            await self.redis.zrem(k.POLL_NOTICES_DUE, _notice(alert_id, official_id, number))
        return False

    async def notice_sent(self, alert_id: str, official_id: str, number: int) -> None:
        """The notice was accepted for sending (or had nobody to go to): never again, no longer due."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(_notified(alert_id, official_id, number), "sent", ex=NOTIFIED_KEPT_SECONDS)
            pipe.zrem(k.POLL_NOTICES_DUE, _notice(alert_id, official_id, number))
            await pipe.execute()
        await durable(self.redis)

    async def release_notice(self, alert_id: str, official_id: str, number: int) -> None:
        """A notice that could not be sent: still due, for the next sweep (or the next such answer)."""
        await self.redis.delete(_notified(alert_id, official_id, number))

    async def notices_due(
        self, answered_before: float, limit: int = 100
    ) -> list[tuple[str, str, int, float]]:
        """Urgent answers given before then whose notice is not known sent: (alert, official, answer,
        answered at), oldest first."""
        found = await self.redis.zrangebyscore(
            k.POLL_NOTICES_DUE, 0, answered_before, start=0, num=limit, withscores=True
        )
        out = []
        for member, at in found:
            alert_id, official_id, number = json.loads(member)
            out.append((str(alert_id), str(official_id), int(number), float(at)))
        return out

    async def drop_notice(self, alert_id: str, official_id: str, number: int) -> None:
        """No longer due: nothing to send it about, or given up."""
        await self.redis.zrem(k.POLL_NOTICES_DUE, _notice(alert_id, official_id, number))


def _notified(alert_id: str, official_id: str, number: int) -> str:
    """The key saying an urgent answer's notice is being sent ("sending", lapses) or was sent ("sent")."""
    return f"{k.POLL_NOTIFIED}{alert_id}:{official_id}:{number}"


def _notice(alert_id: str, official_id: str, number: int) -> str:
    return json.dumps([alert_id, official_id, number], separators=(",", ":"))
