"""What the per-school view of an alert reads, kept in the reading process between reads (a bounded LRU).

A statewide alert has about 50,000 officials with a school and up to as many acknowledgements: reading and
decoding both whole for every view costs hundreds of milliseconds. Neither needs it:

- the school map (official id -> school) never changes once the alert is sent (it is written in the
  alert's own transaction), so it is read once per process; the ~2,300 distinct schools are decoded once;
- the ack hash is only ever added to (HSETNX: an official's first ack wins; nothing rewrites or removes
  one), so a read asks for its length and, only when it grew, for its field names, and fetches and decodes
  just the acks it has not seen. Nothing is added to the ack path.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from redis.asyncio import Redis

from alertnet.domain.acks import Ack
from alertnet.domain.schools import SchoolKey, decode_school
from alertnet.store import keys as k

T = TypeVar("T")
CACHED_ALERTS = 4  # a statewide alert's copy is about 15 MB; directors follow one or two alerts at a time


@dataclass
class _Acks:
    by_id: dict[str, Ack] = field(default_factory=dict)
    seen: set[bytes] = field(default_factory=set)  # the hash's field names as read (no decoding to compare)


class SchoolViewReads:
    """`AlertStore.schools` and `AckStore.acks`, for the views of the same few alerts read again and again.

    The mappings returned are this cache's own: never change them. An alert's ack mapping only grows, in
    the order its acks were read, until it is replaced by a new one (after eviction, or should the hash
    ever shrink)."""

    def __init__(self, redis: Redis, *, alerts: int = CACHED_ALERTS) -> None:
        self.redis = redis
        self.alerts = alerts
        self._schools: OrderedDict[str, dict[str, SchoolKey]] = OrderedDict()
        self._acks: OrderedDict[str, _Acks] = OrderedDict()

    async def schools(self, alert_id: str) -> Mapping[str, SchoolKey]:
        """Official id -> (district, school) of the alert's first recipients who belong to a school. Ask
        only for an alert whose record exists (the map is written with it); an empty map is not kept."""
        found = self._schools.get(alert_id)
        if found is not None:
            self._schools.move_to_end(alert_id)
            return found
        raw = await self.redis.hgetall(k.ALERT_SCHOOLS + alert_id)
        decoded: dict[bytes, SchoolKey] = {}
        found = {}
        for official_id, value in raw.items():
            school = decoded.get(value)
            if school is None:
                school = decoded[value] = decode_school(value)
            found[official_id.decode()] = school
        if found:
            _remember(self._schools, alert_id, found, self.alerts)
        return found

    async def acks(self, alert_id: str) -> Mapping[str, Ack]:
        """Every ack of the alert, as `AckStore.acks` reads it now; one HLEN when none came since the last
        read, else the field names and the new acks only."""
        key = k.ACKS_KEY + alert_id
        known = self._acks.get(alert_id)
        if known is None:
            known = _Acks()
            _remember(self._acks, alert_id, known, self.alerts)
        else:
            self._acks.move_to_end(alert_id)
            count = int(await self.redis.hlen(key))
            if count == len(known.seen):
                return known.by_id
            if count < len(known.seen):  # the hash was removed or rebuilt: start again (a new mapping)
                known = _Acks()
                _remember(self._acks, alert_id, known, self.alerts)
        if not known.seen:
            raw = await self.redis.hgetall(key)
            known.by_id.update((i.decode(), Ack.from_json(v)) for i, v in raw.items())
            known.seen.update(raw)
            return known.by_id
        new = [i for i in await self.redis.hkeys(key) if i not in known.seen]
        if new:
            values = await self.redis.hmget(key, new)
            for official_id, value in zip(new, values, strict=True):
                if value is not None:
                    known.by_id[official_id.decode()] = Ack.from_json(value)
                    known.seen.add(official_id)
        return known.by_id


def _remember(cache: OrderedDict[str, T], alert_id: str, value: T, limit: int) -> None:
    cache[alert_id] = value
    cache.move_to_end(alert_id)
    while len(cache) > limit:
        cache.popitem(last=False)
