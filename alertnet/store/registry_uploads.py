"""Registry files uploaded in the console, kept in Redis for an hour between the report and the apply:
one hash per upload (owner, report, the file's bytes while it may still be applied), claimed once."""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

from alertnet.domain.registry_report import RegistryUpload, UploadReport
from alertnet.store import keys as k

UPLOAD_SECONDS = 3600
# Claim the upload for one apply: 1 if claimed now, 0 if it was claimed before, -1 if it is gone.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HSETNX', KEYS[1], 'claimed', ARGV[1])
"""


class RegistryUploadStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._claim = redis.register_script(CLAIM)

    async def save(self, upload: RegistryUpload, data: bytes | None) -> None:
        """Keep the upload (and, if it may be applied, the file) for UPLOAD_SECONDS."""
        key = k.REGISTRY_UPLOAD + upload.id
        fields: dict[str, str | bytes] = {
            "owner": upload.owner,
            "created": repr(upload.created),
            "report": json.dumps(upload.report.to_dict()),
        }
        if data is not None:
            fields["data"] = data
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, UPLOAD_SECONDS)
            await pipe.execute()

    async def get(self, upload_id: str) -> RegistryUpload | None:
        raw = await self.redis.hmget(k.REGISTRY_UPLOAD + upload_id, ["owner", "created", "report", "applied"])
        owner, created, report, applied = raw
        if owner is None or created is None or report is None:
            return None
        return RegistryUpload(
            id=upload_id,
            owner=owner.decode(),
            created=float(created),
            report=UploadReport.from_dict(json.loads(report)),
            applied=json.loads(applied) if applied else {},
        )

    async def data(self, upload_id: str) -> bytes | None:
        """The file's bytes (none once applied, or for a file that may not be applied)."""
        found = await self.redis.hget(k.REGISTRY_UPLOAD + upload_id, "data")
        return None if found is None else bytes(found)

    async def claim(self, upload_id: str, actor: str) -> int:
        """1: this apply may go ahead; 0: another one claimed it before; -1: the upload is gone."""
        return int(await self._claim(keys=[k.REGISTRY_UPLOAD + upload_id], args=[actor]))

    async def release(self, upload_id: str) -> None:
        """An apply that failed: the upload may be applied again."""
        await self.redis.hdel(k.REGISTRY_UPLOAD + upload_id, "claimed")

    async def applied(self, upload_id: str, actor: str, counts: dict[str, int]) -> None:
        """Record what the apply did, and drop the file (the upload's TTL stands)."""
        key = k.REGISTRY_UPLOAD + upload_id
        record = {"by": actor, "at": time.time(), **counts}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "applied", json.dumps(record))
            pipe.hdel(key, "data")
            await pipe.execute()
