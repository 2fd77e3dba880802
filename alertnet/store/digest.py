"""The weekly update in Redis: items per issue, each issue's record (version, approval, state), what was
sent, the lists officials left, and addresses that bounce or complain.

Every change to an issue's items bumps its version in the same transaction, so an approval (which names
the version it approved) is void the moment anything changes. State changes (sent, held, skipped, empty)
are made only from the state the caller saw, by script, so two schedulers cannot both make one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import redis
from redis.asyncio import Redis

from alertnet.domain.digest import DigestItem, IssueRecord, IssueState
from alertnet.domain.subscriptions import MailingList, ProblemKind, ProblemThresholds, is_suppressed
from alertnet.store import keys as k

# KEYS[1] = issue hash. ARGV: expected version, approver, now. Approves only the version the caller
# checked, and never the last changer's own change.
APPROVE = """
local version = redis.call('HGET', KEYS[1], 'version') or '0'
if version ~= ARGV[1] then return 0 end
if (redis.call('HGET', KEYS[1], 'changed_by') or '') == ARGV[2] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state') or 'open'
if state ~= 'open' and state ~= 'held' then return 0 end
redis.call('HSET', KEYS[1], 'approved_by', ARGV[2], 'approved_version', version, 'approved_at', ARGV[3])
return 1
"""

# KEYS[1] = issue hash, KEYS[2] = the schedule's last-dealt-with record. ARGV: expected state, new state,
# reason, issue number. Moves the state only from the expected one; keeps the newest number dealt with.
SET_STATE = """
local state = redis.call('HGET', KEYS[1], 'state') or 'open'
if state ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'reason', ARGV[3])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[4]) > last then redis.call('SET', KEYS[2], ARGV[4]) end
return 1
"""

# KEYS[1] = the address's problem hash, KEYS[2] = addresses with problems, KEYS[3] = suppressed set.
# ARGV: kind ('spamreport', 'bounce', 'soft' or 'ok'), hard threshold, soft threshold, now, reason.
RECORD_PROBLEM = """
local kind = ARGV[1]
if kind == 'ok' then
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'soft_in_a_row', 0) end
  return 0
end
if kind == 'spamreport' then redis.call('HINCRBY', KEYS[1], 'spam', 1)
elseif kind == 'bounce' then redis.call('HINCRBY', KEYS[1], 'hard', 1)
else redis.call('HINCRBY', KEYS[1], 'soft_in_a_row', 1) end
redis.call('HSET', KEYS[1], 'last_event', kind, 'last_reason', ARGV[5], 'updated', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[6])
local spam = tonumber(redis.call('HGET', KEYS[1], 'spam') or '0')
local hard = tonumber(redis.call('HGET', KEYS[1], 'hard') or '0')
local soft = tonumber(redis.call('HGET', KEYS[1], 'soft_in_a_row') or '0')
if spam > 0 or hard >= tonumber(ARGV[2]) or soft >= tonumber(ARGV[3]) then
  if redis.call('SADD', KEYS[3], ARGV[6]) == 1 then
    redis.call('HSET', KEYS[1], 'suppressed', ARGV[4])
    return 1
  end
end
return 0
"""


def issue_key(number: int) -> str:
    return f"{k.DIGEST_ISSUE}{number}"


class DigestStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._approve = redis.register_script(APPROVE)
        self._set_state = redis.register_script(SET_STATE)

    # --- items -------------------------------------------------------------------------------------

    async def item(self, item_id: str) -> DigestItem | None:
        raw = await self.redis.get(k.DIGEST_ITEM + item_id)
        return None if raw is None else DigestItem.from_json(raw)

    async def items(self, number: int) -> list[DigestItem]:
        ids = sorted(m.decode() for m in await self.redis.smembers(k.DIGEST_ITEMS + str(number)))
        if not ids:
            return []
        raws = await self.redis.mget([k.DIGEST_ITEM + i for i in ids])
        return [DigestItem.from_json(r) for r in raws if r is not None]

    async def save_item(self, item: DigestItem, actor: str) -> IssueRecord:
        """Write a new or edited item and mark its issue changed (voiding any approval)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            self.stage_item(pipe, item, actor)
            await pipe.execute()
        return await self.issue(item.issue)

    @classmethod
    def stage_item(cls, pipe: redis.asyncio.client.Pipeline, item: DigestItem, actor: str) -> None:
        """The writes of `save_item`, for a caller's own transaction (a bulletin waiting for the digest)."""
        pipe.set(k.DIGEST_ITEM + item.id, item.to_json())
        pipe.sadd(k.DIGEST_ITEMS + str(item.issue), item.id)
        cls._changed(pipe, item.issue, actor)

    async def withdraw_item(self, item: DigestItem, actor: str) -> IssueRecord:
        async with self.redis.pipeline(transaction=True) as pipe:
            self.stage_withdraw(pipe, item, actor)
            await pipe.execute()
        return await self.issue(item.issue)

    @classmethod
    def stage_withdraw(cls, pipe: redis.asyncio.client.Pipeline, item: DigestItem, actor: str) -> None:
        pipe.delete(k.DIGEST_ITEM + item.id)
        pipe.srem(k.DIGEST_ITEMS + str(item.issue), item.id)
        cls._changed(pipe, item.issue, actor)

    @staticmethod
    def _changed(pipe: redis.asyncio.client.Pipeline, number: int, actor: str) -> None:
        pipe.hincrby(issue_key(number), "version", 1)
        pipe.hset(issue_key(number), "changed_by", actor)

    # --- issues ------------------------------------------------------------------------------------

    async def issue(self, number: int) -> IssueRecord:
        return IssueRecord.from_hash(number, await self.redis.hgetall(issue_key(number)))

    async def approve(self, number: int, version: int, approver: str) -> bool:
        """Approve `version` of the issue; False if it changed meanwhile (or the approver changed it)."""
        return bool(await self._approve(keys=[issue_key(number)], args=[version, approver, time.time()]))

    async def set_state(self, number: int, expected: IssueState, to: IssueState, reason: str = "") -> bool:
        """Move the issue's state from `expected` to `to`; False if it was not in `expected`."""
        return bool(
            await self._set_state(
                keys=[issue_key(number), k.DIGEST_LAST], args=[expected.value, to.value, reason, number]
            )
        )

    async def last_dealt_with(self) -> int | None:
        raw = await self.redis.get(k.DIGEST_LAST)
        return None if raw is None else int(raw)

    async def snapshot(self, number: int) -> list[DigestItem]:
        raw = await self.redis.get(k.DIGEST_SNAPSHOT + str(number))
        return [] if raw is None else [DigestItem.from_json(json.dumps(d)) for d in json.loads(raw)]

    async def sent_issues(self) -> list[tuple[int, float]]:
        """Every sent issue, newest first: (number, sent time)."""
        rows = await self.redis.zrevrange(k.DIGEST_SENT, 0, -1, withscores=True)
        return [(int(member), float(score)) for member, score in rows]

    async def count_test_send(self, sender: str, day: str, n: int) -> int:
        """Add `n` test emails to the sender's count for `day`; returns the new count."""
        key = f"{k.DIGEST_TESTS}{sender}:{day}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, n)
            pipe.expire(key, 2 * 86400)
            count, _ = await pipe.execute()
        return int(count)

    async def uncount_test_send(self, sender: str, day: str, n: int) -> None:
        await self.redis.decrby(f"{k.DIGEST_TESTS}{sender}:{day}", n)


def stage_sent(
    pipe: redis.client.Pipeline,
    number: int,
    *,
    items: Sequence[DigestItem],
    recipients: int,
    message_ids: Sequence[str],
    now: float,
) -> None:
    """The issue's sent record, for the fan-out's transaction (sync: the dispatcher's connection)."""
    key = issue_key(number)
    pipe.hset(
        key,
        mapping={
            "state": IssueState.SENT.value,
            "reason": "",
            "sent_at": now,
            "recipients": recipients,
            "messages": ",".join(message_ids),
        },
    )
    pipe.set(k.DIGEST_SNAPSHOT + str(number), json.dumps([i.public_dict() for i in items]))
    pipe.zadd(k.DIGEST_SENT, {str(number): now})
    pipe.eval(
        "local last = tonumber(redis.call('GET', KEYS[1]) or '0') "
        "if tonumber(ARGV[1]) > last then redis.call('SET', KEYS[1], ARGV[1]) end return 1",
        1,
        k.DIGEST_LAST,
        number,
    )


class SubscriptionStore:
    """Who left which mailing list (kept apart from the registry: an import never re-subscribes anyone),
    and addresses that bounce or complain."""

    def __init__(self, redis: Redis, thresholds: ProblemThresholds) -> None:
        self.redis = redis
        self.thresholds = thresholds
        self._record = redis.register_script(RECORD_PROBLEM)

    async def unsubscribe(self, mailing_list: MailingList, official_id: str) -> bool:
        """True if the official was on the list until now."""
        return bool(await self.redis.sadd(k.UNSUBSCRIBED + mailing_list.value, official_id))

    async def resubscribe(self, mailing_list: MailingList, official_id: str) -> bool:
        return bool(await self.redis.srem(k.UNSUBSCRIBED + mailing_list.value, official_id))

    async def unsubscribed(self, mailing_list: MailingList) -> frozenset[str]:
        members = await self.redis.smembers(k.UNSUBSCRIBED + mailing_list.value)
        return frozenset(m.decode() for m in members)

    async def is_unsubscribed(self, mailing_list: MailingList, official_id: str) -> bool:
        return bool(await self.redis.sismember(k.UNSUBSCRIBED + mailing_list.value, official_id))

    async def suppressed(self) -> frozenset[str]:
        return frozenset(m.decode() for m in await self.redis.smembers(k.EMAIL_SUPPRESSED))

    async def record_event(self, address: str, kind: ProblemKind | None, reason: str) -> bool:
        """Count one event against an address (None: a delivery, which ends a run of soft failures).
        Returns True when this event suppressed the address."""
        address = address.strip().lower()
        if not address:
            return False
        return bool(
            await self._record(
                keys=[k.EMAIL_PROBLEM + address, k.EMAIL_PROBLEMS, k.EMAIL_SUPPRESSED],
                args=[
                    "ok" if kind is None else kind.value,
                    self.thresholds.hard_bounces,
                    self.thresholds.soft_in_a_row,
                    f"{time.time():.3f}",
                    reason[:200],
                    address,
                ],
            )
        )

    async def delivered(self, addresses: list[str]) -> None:
        """Deliveries end a run of soft failures (only addresses with a problem are touched)."""
        lowered = list(dict.fromkeys(a.strip().lower() for a in addresses))
        flags = await self.redis.smismember(k.EMAIL_PROBLEMS, lowered)
        for address, flag in zip(lowered, flags, strict=True):
            if flag:
                await self.record_event(address, None, "delivered")

    async def problems(self) -> list[dict[str, object]]:
        """Every address with a problem recorded, suppressed ones first."""
        addresses = sorted(m.decode() for m in await self.redis.smembers(k.EMAIL_PROBLEMS))
        out: list[dict[str, object]] = []
        for address in addresses:
            h = {
                key.decode(): v.decode()
                for key, v in (await self.redis.hgetall(k.EMAIL_PROBLEM + address)).items()
            }
            spam, hard, soft = int(h.get("spam", 0)), int(h.get("hard", 0)), int(h.get("soft_in_a_row", 0))
            out.append(
                {
                    "email": address,
                    "suppressed": is_suppressed(spam, hard, soft, self.thresholds) or "suppressed" in h,
                    "spam_reports": spam,
                    "hard_bounces": hard,
                    "soft_failures_in_a_row": soft,
                    "last_event": h.get("last_event", ""),
                    "last_reason": h.get("last_reason", ""),
                    "updated": float(h.get("updated", 0)),
                }
            )
        out.sort(key=lambda p: (not p["suppressed"], str(p["email"])))
        return out
