"""`python -m bench --scale-only`: the largest states, and a nation (200,000 officials by default).

On a stack of its own: import N officials (import time, Redis bytes per official); a first one-district
alert (cold: the API's first load of the registry); a re-import with about 1% of the officials changed,
followed at once by a one-district alert (the "first alert after an import" figure, target < 0.5 s) and
by how long until the API's answers reflect the new registry; then the peak RSS (VmHWM) of each process.
"""

from __future__ import annotations

import csv
import resource
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.fanout import wait_drained
from bench.machine import machine_info
from bench.memory import peak_rss, per_item, redis_used_bytes
from bench.payloads import Registry, critical_alert
from bench.stack import Stack, open_stack

SENDER = "bench-director"
CHANGED_EVERY = 100  # rows: about 1% of the officials change in the re-import
TARGET_S = 0.5
NEW_VERSION_TIMEOUT_S = 120.0


def run_scale_only(config: BenchConfig) -> dict[str, Any]:
    """The scale figures alone; results like `run_bench`'s (with `error` set on a partial run)."""
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine_info(), "parameters": config.parameters(), "figures": {}}
    workdir = Path(tempfile.mkdtemp(prefix="alertnet-scale-"))
    try:
        print(f"scale: starting a stack, then {config.officials:,} officials", flush=True)
        with open_stack(workdir / "scale", workers=config.workers) as stack:
            results["figures"]["scale"] = figures = {"officials": config.officials}
            measure(stack, config, figures)
    except Exception as error:
        traceback.print_exc()
        results["error"] = f"{type(error).__name__}: {error}"
    finally:
        results["durations_s"] = {"total": round(time.monotonic() - started, 1)}
        if config.keep_workdir:
            print(f"kept {workdir} (Redis data and process logs)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def measure(stack: Stack, config: BenchConfig, f: dict[str, Any]) -> None:
    path = stack.workdir / f"registry-{config.officials}.csv"
    stack.cli("contacts", "generate", "--officials", str(config.officials), "-o", str(path))
    before = redis_used_bytes(stack)
    f["import_s"] = timed(lambda: stack.cli("contacts", "import", str(path), timeout=1800))
    f["redis_per_official"] = per_item(before, redis_used_bytes(stack), config.officials)
    print(
        f"scale: import {f['import_s']} s, {f['redis_per_official']['bytes_per_item']} B/official", flush=True
    )

    token = stack.add_sender(SENDER)
    district = Registry.read(path).districts(1)[0]
    answer, _, latency = stack.post_alert(token, critical_alert(district))
    f["cold_post"] = {"post_latency_s": round(latency, 3), "recipients": answer["recipients"]}
    print(f"scale: first alert (the API's first load) {latency:.3f} s", flush=True)
    wait_drained(stack, token, [answer["id"]], config.drain_timeout_s)

    edited, renamed = edit_registry(path, district)
    reimport: dict[str, Any] = {"changed": renamed + 1, "renamed": renamed, "deactivated": 1}
    f["reimport"] = reimport
    reimport["import_s"] = timed(lambda: stack.cli("contacts", "import", str(edited), timeout=1800))
    imported_at = time.monotonic()
    answer, _, latency = stack.post_alert(token, critical_alert(district))
    sms_before = f["cold_post"]["recipients"].get("sms", 0)
    fresh = answer["recipients"].get("sms", 0) < sms_before
    reimport["post_latency_s"] = round(latency, 3)
    reimport["post_used_new_registry"] = fresh
    reimport["target_met"] = latency < TARGET_S
    ids = [answer["id"]]
    while not fresh and time.monotonic() - imported_at < NEW_VERSION_TIMEOUT_S:
        time.sleep(0.25)
        again, _, _ = stack.post_alert(token, critical_alert(district))
        ids.append(again["id"])
        fresh = again["recipients"].get("sms", 0) < sms_before
    reimport["new_registry_served_after_s"] = round(time.monotonic() - imported_at, 2) if fresh else None
    reimport["alerts_posted"] = len(ids)
    print(
        f"scale: re-import {reimport['import_s']} s; next alert {latency:.3f} s "
        f"(new registry: {'yes' if reimport['post_used_new_registry'] else 'not yet'}); "
        f"new registry served after {reimport['new_registry_served_after_s']} s",
        flush=True,
    )
    wait_drained(stack, token, ids, config.drain_timeout_s)
    f["peak_rss_mib"] = peak_rss(stack)
    # The CLI's import (and generate) processes, gone by now: the largest of this process's children.
    f["peak_rss_mib"]["cli_import"] = [
        round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    ]
    print(f"scale: peak RSS (MiB) {f['peak_rss_mib']}", flush=True)


def timed(action: Any) -> float:
    started = time.monotonic()
    action()
    return round(time.monotonic() - started, 2)


def edit_registry(path: Path, district: str) -> tuple[Path, int]:
    """A copy of the registry with every CHANGED_EVERY-th official renamed and one official of `district`
    (one with a mobile number) marked inactive, so the alert's SMS count shows which registry it used.
    Returns the copy and how many were renamed."""
    edited = path.with_name(path.stem + "-edited.csv")
    with (
        path.open(encoding="utf-8", newline="") as source,
        edited.open("w", encoding="utf-8", newline="") as out,
    ):
        reader = csv.DictReader(source)
        writer = csv.DictWriter(out, [*(reader.fieldnames or []), "active"], lineterminator="\n")
        writer.writeheader()
        leaving = renamed = 0
        for n, row in enumerate(reader):
            active = "true"
            if not leaving and row["district"] == district and row["mobile"]:
                active, leaving = "false", 1
            elif n % CHANGED_EVERY == CHANGED_EVERY - 1:
                row["name"] += " Jr"
                renamed += 1
            writer.writerow({**row, "active": active})
    return edited, renamed


def scale_rows(f: dict[str, Any], row: Any) -> list[Any]:
    s = f.get("scale")
    if not s:
        return []
    n = s["officials"]
    out = []
    if "import_s" in s:
        per = s["redis_per_official"]["bytes_per_item"]
        out.append(
            row(
                f"7. Scale: import of {n:,} officials",
                f"{s['import_s']:.1f} s; Redis {per:,.0f} B/official",
                "",
                None,
            )
        )
    cold = s.get("cold_post")
    if cold:
        out.append(
            row("7. Scale: first alert, the API's first load", f"{cold['post_latency_s']:.2f} s", "", None)
        )
    again = s.get("reimport")
    if again:
        served = again["new_registry_served_after_s"]
        text = (
            f"{again['post_latency_s']:.2f} s after a re-import changing {again['changed']:,} "
            f"({'on the new registry' if again['post_used_new_registry'] else 'on the previous registry'}; "
            f"new registry served {served} s after the import)"
        )
        out.append(row("7. Scale: first alert after an import", text, "< 0.5 s", again["target_met"]))
    rss = s.get("peak_rss_mib")
    if rss:
        text = "; ".join(f"{kind} {', '.join(map(str, v))} MiB" for kind, v in rss.items())
        out.append(row("7. Scale: peak RSS (VmHWM) per process", text, "", None))
    return out
