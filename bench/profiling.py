"""py-spy profiles of the hub's processes during a phase, and a summary of where their time goes."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.flame import write_flamegraph

# A leaf frame in one of these means the thread was waiting, not working.
IDLE_LEAVES = (
    "select (selectors.py",
    "EpollSelector.select",
    "sleep (",
    "wait (threading.py",
    "_wait_for_tstate",
)
# Entry points: every sample passes through them, so they say nothing about where time goes.
ENTRY_FILES = ("alertnet/cli.py", "alertnet/worker.py", "alertnet/sim/app.py", "alertnet/scheduler.py")
LINE = re.compile(r":\d+\)$")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def py_spy_binary() -> str | None:
    """The py-spy next to this interpreter (installed into the venv on first use), or on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    if not local.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "py-spy"],
            capture_output=True,
            check=False,
            timeout=300,
        )
    if local.exists():
        return str(local)
    return shutil.which("py-spy")


@dataclass
class Recording:
    phase: str
    name: str
    pid: int
    raw: Path
    svg: Path
    proc: subprocess.Popen[bytes]

    @property
    def key(self) -> str:
        return f"{self.phase}:{self.name}"


class Profiler:
    """Non-blocking py-spy recordings (the process is sampled, never paused) of hub processes during
    chosen phases; `summaries` maps "phase:process" to where that process's time went.

    Files: `profile-NAME.svg` for the fan-out (as the issue names them), `profile-PHASE-NAME.svg` otherwise,
    each with the collapsed stacks beside it (`.txt`).
    """

    def __init__(self, outdir: Path, *, enabled: bool, rate: int = 100) -> None:
        self.outdir = outdir
        self.rate = rate
        self.binary = py_spy_binary() if enabled else None
        self.running: list[Recording] = []
        self.summaries: dict[str, Any] = {}

    def start(self, phase: str, pids: dict[str, int], seconds: float) -> list[Recording]:
        """Start recording each process for at most `seconds`; returns the recordings (none if disabled)."""
        if self.binary is None:
            return []
        self.outdir.mkdir(parents=True, exist_ok=True)
        started = []
        for name, pid in pids.items():
            stem = f"profile-{name}" if phase == "fanout" else f"profile-{phase}-{name}"
            raw = self.outdir / f"{stem}.txt"
            command = [self.binary, "record", "--nonblocking", "-r", str(self.rate), "-d", str(int(seconds))]
            command += ["-f", "raw", "-o", str(raw), "--pid", str(pid)]
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started.append(Recording(phase, name, pid, raw, self.outdir / f"{stem}.svg", proc))
        self.running += started
        return started

    @staticmethod
    def interrupt(recordings: list[Recording]) -> None:
        """Ask recordings to stop now (py-spy writes what it has on SIGINT); does not wait."""
        for rec in recordings:
            if rec.proc.poll() is None:
                rec.proc.send_signal(signal.SIGINT)

    def finish(self, recordings: list[Recording], timeout: float = 60) -> None:
        """Stop the recordings, then write a flame graph of each and summarize it."""
        self.interrupt(recordings)
        for rec in recordings:
            try:
                rec.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                rec.proc.kill()
                rec.proc.wait()
            self.running.remove(rec)
            self.summaries[rec.key] = self._summary(rec)

    def close(self) -> None:
        """Finish whatever is still recording (on errors and at the end)."""
        self.finish(list(self.running))

    @staticmethod
    def _summary(rec: Recording) -> dict[str, Any]:
        if not rec.raw.exists():
            return {"error": "py-spy wrote nothing (not allowed to trace the process?)"}
        stacks = read_collapsed(rec.raw)
        title = f"{rec.name} (pid {rec.pid}) during the {rec.phase} phase"
        write_flamegraph(stacks, rec.svg, title=title)
        return {"flamegraph": rec.svg.name, "collapsed": rec.raw.name, **summarize(stacks)}


def read_collapsed(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw format: `frame;frame;...;leaf COUNT` per line."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def _package(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return "other"
    file = match.group("file")
    return file.split("/")[0] if "/" in file else file.removesuffix(".py")


def _ours(frame: str) -> bool:
    """An alertnet frame that does work (not the entry points that merely run the event loop)."""
    return "alertnet/" in frame and not any(entry in frame for entry in ENTRY_FILES)


def summarize(stacks: Counter[tuple[str, ...]], top: int = 12) -> dict[str, Any]:
    """Idle share, then busy time by leaf frame, by leaf package and by innermost alertnet frame."""
    total = sum(stacks.values())
    busy: Counter[tuple[str, ...]] = Counter(
        {s: n for s, n in stacks.items() if not any(s[-1].startswith(i) or i in s[-1] for i in IDLE_LEAVES)}
    )
    busy_total = sum(busy.values()) or 1
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for stack, n in busy.items():
        own[LINE.sub(")", stack[-1])] += n  # one entry per function, whatever the line
        packages[_package(stack[-1])] += n
        ours[next((f for f in reversed(stack) if _ours(f)), "(event loop and libraries only)")] += n

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / busy_total, 1)] for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "idle_percent": round(100 * (total - sum(busy.values())) / (total or 1), 1),
        "top_self_percent_of_busy": share(own),
        "packages_self_percent_of_busy": share(packages),
        # Busy time charged to the innermost alertnet function on the stack: which of our calls cost it.
        "innermost_alertnet_frame_percent_of_busy": share(ours),
    }
