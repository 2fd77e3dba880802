"""Where the hub's Redis is: a plain `redis://` URL, or Sentinels that name the current primary.

`redis+sentinel://[[user]:password@]host:port[,host:port...]/mastername[/db]` names the Sentinels (port
26379 when left out) and the primary's name in their configuration; the password is the primary's (and
its replicas'). Every process asks the Sentinels which server is the primary when it connects, and again
after a connection breaks, so after a failover the hub follows the promoted replica. `parse_sentinel_url`
is pure; `connect_async` and `connect_sync` are the only places the hub opens Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis
import redis.asyncio
import redis.sentinel
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
# How long a question to one Sentinel may take before the next one is asked.
SENTINEL_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse_sentinel_url(url: str) -> SentinelUrl | None:
    """The Sentinels, primary name and database of a `redis+sentinel://` URL; None for any other URL.
    Raises ValueError for a Sentinel URL without hosts or primary name, or with a bad port or database."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != SENTINEL_SCHEME:
        return None
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels = tuple(_host_port(part) for part in hosts.split(",") if part.strip())
    parts = [p for p in path.split("/") if p]
    if not sentinels:
        raise ValueError(f"{SENTINEL_SCHEME} URL names no Sentinel host")
    if not parts or len(parts) > 2:
        raise ValueError(f"{SENTINEL_SCHEME} URL must end in /mastername or /mastername/db")
    if len(parts) == 2 and not parts[1].isdigit():
        raise ValueError(f"{SENTINEL_SCHEME} URL: database {parts[1]!r} is not a number")
    db = int(parts[1]) if len(parts) == 2 else 0
    return SentinelUrl(sentinels, unquote(parts[0]), db, username, password)


def _host_port(part: str) -> tuple[str, int]:
    part = part.strip()
    if part.startswith("["):  # [::1]:26379
        host, _, tail = part[1:].partition("]")
        port = tail.removeprefix(":")
    else:
        host, _, port = part.rpartition(":") if ":" in part else (part, "", "")
    if not host:
        raise ValueError(f"{SENTINEL_SCHEME} URL: bad host {part!r}")
    if port and not port.isdigit():
        raise ValueError(f"{SENTINEL_SCHEME} URL: bad port in {part!r}")
    return host, int(port) if port else SENTINEL_PORT


def redacted(url: str) -> str:
    """The URL without its password (for logs and messages)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, tail = rest.partition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{tail}"


class HubRedis(redis.asyncio.Redis):  # type: ignore[misc]  # redis-py is read as untyped
    """An async client that knows how many replicas must hold a write before the hub acts on it
    (`alertnet.store.durable`); 0: a single Redis, nothing waits."""

    min_replicas: int = 0
    wait_timeout_ms: int = 1000
    # How long `durable` keeps asking before it gives up (a worker waits; the API answers at once).
    patience_seconds: float = 0.0

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the client and, for a Sentinel URL, its connections to the Sentinels."""
        pool = self.connection_pool
        await super().aclose(close_connection_pool)
        if isinstance(pool, AsyncSentinelPool):
            for sentinel in pool.sentinel_manager.sentinels:
                await sentinel.aclose()


class HubSyncRedis(redis.Redis):  # type: ignore[misc]
    """The sync (rq) client, with the same durability settings as `HubRedis`."""

    min_replicas: int = 0
    wait_timeout_ms: int = 1000

    def close(self) -> None:
        """Close the client and, for a Sentinel URL, its connections to the Sentinels."""
        pool = self.connection_pool
        super().close()
        if isinstance(pool, redis.sentinel.SentinelConnectionPool):
            for sentinel in pool.sentinel_manager.sentinels:
                sentinel.close()


def _sentinel_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    timeout = min(SENTINEL_TIMEOUT_SECONDS, kwargs.get("socket_timeout") or SENTINEL_TIMEOUT_SECONDS)
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def connect_async(url: str, *, min_replicas: int = 0, wait_timeout_ms: int = 1000, **kwargs: Any) -> HubRedis:
    """An async client for the URL: a plain server, or whichever server the Sentinels name the primary."""
    target = parse_sentinel_url(url)
    client: HubRedis
    if target is None:
        client = HubRedis.from_url(url, **kwargs)
    else:
        sentinel = AsyncSentinel(list(target.sentinels), sentinel_kwargs=_sentinel_kwargs(kwargs))
        auth = {"username": target.username, "password": target.password}
        client = sentinel.master_for(target.service, redis_class=HubRedis, db=target.db, **auth, **kwargs)
    client.min_replicas = min_replicas
    client.wait_timeout_ms = wait_timeout_ms
    return client


def connect_sync(
    url: str, *, min_replicas: int = 0, wait_timeout_ms: int = 1000, **kwargs: Any
) -> HubSyncRedis:
    """A sync client for the URL (rq, one-shot checks), as `connect_async`."""
    target = parse_sentinel_url(url)
    client: HubSyncRedis
    if target is None:
        client = HubSyncRedis.from_url(url, **kwargs)
    else:
        sentinel = redis.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=_sentinel_kwargs(kwargs))
        auth = {"username": target.username, "password": target.password}
        client = sentinel.master_for(target.service, redis_class=HubSyncRedis, db=target.db, **auth, **kwargs)
    client.min_replicas = min_replicas
    client.wait_timeout_ms = wait_timeout_ms
    return client


def lost_primary(error: BaseException) -> bool:
    """True for the errors of a Redis primary that is gone or failing over: unreachable, demoted to a
    replica (READONLY), or refusing writes for want of replicas (NOREPLICAS, `min-replicas-to-write`)."""
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)):
        return True
    return isinstance(error, redis.ResponseError) and "NOREPLICAS" in str(error)
