"""What /proc says about the hub's processes: CPU seconds used and peak resident memory."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds `pid` has used so far (0.0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name (which may hold spaces) start after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/PID/status (VmHWM, VmRSS), in KiB; 0 if unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mib(pid: int) -> float:
    """Peak resident set size (VmHWM) of `pid` in MiB."""
    return status_kib(pid, "VmHWM") / 1024


class CpuMeter:
    """CPU seconds per named process between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _total(self, name: str) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids[name])

    def start(self) -> None:
        self.before = {name: self._total(name) for name in self.pids}

    def stop(self) -> dict[str, float]:
        self.used = {name: round(self._total(name) - self.before[name], 2) for name in self.pids}
        return self.used
