"""The registry's change record: which officials each import changed, so that a process holding the
registry at one version catches up by reading only those officials instead of the whole registry.

Every import that changes something (`OfficialStore.import_officials`, the only writer of officials:
the CLI, the console's registry upload and the launcher all go through it) writes, in its own MULTI/EXEC,
the list `an:registry:changes:<new version>` = [previous version, changed id, changed id, ...], or
[previous version, "*"] when it changed too many officials to be worth following (the first import of a
large registry, for example): whoever follows that link reloads everything. The previous version is read
by a script at EXEC time, inside the transaction, so two imports racing each other still leave an
unbroken chain. Each record expires after `CHANGES_TTL_SECONDS`; a process whose version's link is gone
(expired, or written before this record existed) reloads everything, as it always did.
"""

from __future__ import annotations

from redis.asyncio import Redis

from alertnet.store import keys as k

CHANGES_TTL_SECONDS = 6 * 3600
WHOLE = "*"  # in place of the ids: "reload everything"
MAX_RECORDED = 50_000  # an import changing more officials than this records WHOLE
MAX_CHAIN = 64  # links a process follows before it reloads everything instead
CHUNK = 5000

# KEYS: the version key, the new version's change list. ARGV: the new version, the record's lifetime.
_LINK = """
local previous = redis.call('GET', KEYS[1]) or ''
redis.call('LPUSH', KEYS[2], previous)
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
return previous
"""


def record_commands(version: str, changed: list[str]) -> list[tuple[str, ...]]:
    """The commands, queued in an import's MULTI/EXEC after its writes, that make `version` current and
    record the ids it `changed` under it, linked to the version it replaces."""
    key = k.REGISTRY_CHANGES + version
    members = changed if len(changed) <= MAX_RECORDED else [WHOLE]
    commands: list[tuple[str, ...]] = [
        ("RPUSH", key, *members[start : start + CHUNK]) for start in range(0, len(members), CHUNK)
    ]
    if not commands:
        commands.append(("RPUSH", key, WHOLE))
    commands.append(("EVAL", _LINK, "2", k.REGISTRY_VERSION, key, version, str(CHANGES_TTL_SECONDS)))
    return commands


async def changed_since(redis: Redis, since: str, current: str) -> set[str] | None:
    """The ids of the officials changed between version `since` and `current`, following the chain back
    from `current`; None when only a full reload will do (a link missing or expired, a link saying
    "everything", more than MAX_CHAIN links or more than MAX_RECORDED ids)."""
    ids: set[str] = set()
    version = current
    for _ in range(MAX_CHAIN):
        if version == since:
            return ids
        record = [r.decode() for r in await redis.lrange(k.REGISTRY_CHANGES + version, 0, -1)]
        if not record or WHOLE in record[1:]:
            return None
        ids.update(record[1:])
        if len(ids) > MAX_RECORDED:
            return None
        version = record[0]
    return ids if version == since else None
