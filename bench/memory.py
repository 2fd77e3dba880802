"""Figure 7: Redis bytes per official and per delivery, and peak RSS of the hub's processes."""

from __future__ import annotations

from typing import Any

from bench.procs import peak_rss_mib
from bench.stack import Stack


def redis_used_bytes(stack: Stack) -> int:
    """`used_memory` from INFO memory of the bench's own Redis."""
    conn = stack.redis()
    try:
        return int(conn.info("memory")["used_memory"])
    finally:
        conn.close()


def per_item(before: int, after: int, items: int) -> dict[str, Any]:
    return {
        "before_bytes": before,
        "after_bytes": after,
        "items": items,
        "bytes_per_item": round((after - before) / items, 1) if items else None,
    }


def peak_rss(stack: Stack) -> dict[str, Any]:
    """VmHWM (MiB) of each running hub process, by kind."""
    return {
        kind: [round(peak_rss_mib(pid), 1) for pid in stack.pids(kind)]
        for kind in ("api", "worker", "sim", "scheduler")
    }
