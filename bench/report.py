"""The table (each figure next to its target, met or missed), results.json and the README section."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.console import console_rows
from bench.scale import scale_rows
from bench.scaling import scaling_rows
from bench.schools_view import schools_view_rows

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


@dataclass(frozen=True)
class Row:
    figure: str
    measured: str
    target: str
    met: bool | None  # None: reported without a target

    @property
    def verdict(self) -> str:
        return "—" if self.met is None else "met" if self.met else "**missed**"


def dig(data: Any, path: str) -> Any:
    """`data["a"]["b"]` for path "a.b"; None if any step is missing."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _fanout_rows(f: dict[str, Any]) -> list[Row]:
    fan = dig(f, "fanout.median")
    if not fan:
        return []
    n = f["fanout"]["deliveries"]
    rate = fan["deliveries_per_s"]
    return [
        Row(
            "1. Fan-out: POST to last provider request",
            f"{fan['post_to_last_request_s']:.1f} s for {n:,} deliveries",
            "150,000 in < 60 s",
            rate >= 2500,
        ),
        Row("1. Fan-out: deliveries per second", f"{rate:,.0f}/s", "≥ 2,500/s", rate >= 2500),
        Row("1. Fan-out: POST latency", f"{fan['post_latency_s']:.2f} s", "", None),
        Row("1. Fan-out: time to first SMS", f"{fan['first_sms_s']:.2f} s", "< 1 s", fan["first_sms_s"] < 1),
        *_settled_row(fan),
        *_cold_row(f),
    ]


def _settled_row(fan: dict[str, Any]) -> list[Row]:
    settled = fan.get("settled_after_post_s")
    text = f"{settled:.0f} s after the POST" if settled else "not within the drain timeout"
    return [Row("1. Fan-out: every receipt in (all settled)", text, "", None)]


def _cold_row(f: dict[str, Any]) -> list[Row]:
    cold = f.get("cold_post")
    if not cold:
        return []
    n = sum(cold["recipients"].values())
    text = f"{cold['post_latency_s']:.2f} s ({n} recipients; loads the registry into the API's cache)"
    return [Row("1. POST latency, first alert after an import", text, "", None)]


def _ceiling_row(f: dict[str, Any]) -> list[Row]:
    ceiling = dig(f, "ceiling.requests_per_s")
    ours = dig(f, "fanout.median.twilio_requests_per_s")
    if not ceiling or not ours:
        return []
    share = ours / ceiling
    return [
        Row(
            "2. Pipeline's Twilio requests/s vs simulator ceiling",
            f"{ours:,.0f} of {ceiling:,.0f}/s = {share:.0%}",
            "≥ 60%",
            share >= 0.6,
        ),
    ]


def _naive_rows(f: dict[str, Any]) -> list[Row]:
    ours = dig(f, "fanout.median.deliveries_per_s")
    per_request = dig(f, "fanout.median.twilio_requests_per_s")
    rows = []
    for variant, label in (
        ("out_of_the_box", "`rq worker` as installed"),
        ("sdk_preloaded", "SDK preloaded"),
    ):
        naive = dig(f, f"naive.{variant}.messages_per_s")
        if not naive or not ours:
            continue
        ratio = ours / naive
        detail = f"; per Twilio request {per_request / naive:.0f}x" if per_request else ""
        measured = f"{ratio:.0f}x: {ours:,.0f} vs {naive:.1f}/s{detail}"
        rows.append(Row(f"3. Deliveries/s vs naive baseline ({label})", measured, "≥ 50x", ratio >= 50))
    return rows


def _priority_row(f: dict[str, Any]) -> list[Row]:
    p = f.get("priority")
    if not p or p.get("first_sms_max_s") is None:
        return []
    worst = p["first_sms_max_s"]
    measured = (
        f"median {p['first_sms_median_s']:.2f} s, max {worst:.2f} s "
        f"({len(p['criticals'])} alerts into {p['bulk_deliveries']:,} bulk SMS)"
    )
    return [Row("4. Critical alert's first SMS during bulk send", measured, "< 1 s", worst < 1)]


def _digest_rows(f: dict[str, Any]) -> list[Row]:
    d = f.get("digest")
    if not d:
        return []
    used, bound = d["sendgrid_requests"], d["request_bound"]
    rows = [
        Row(
            "8. Weekly digest: SendGrid requests",
            f"{used:,} for {d['recipients']:,} subscribers "
            f"({d['editions']} item sets from {d['items']} items)",
            f"≤ {bound:,} (sets + recipients/1,000)",
            used <= bound,
        ),
        Row("8. Weekly digest: run-due to last request", f"{d['to_last_request_s']} s", "—", None),
    ]
    first = d.get("alert_first_sms_s")
    if first is not None:
        during = "during the digest" if d["alert_during_digest"] else "after the digest ended"
        rows.append(
            Row("8. Alert's first SMS during the digest", f"{first:.2f} s ({during})", "< 1 s", first < 1)
        )
    return rows


def _ack_rows(f: dict[str, Any]) -> list[Row]:
    a = f.get("acks")
    if not a:
        return []
    return [
        Row(
            "5. Signed ack webhooks",
            f"{a['per_s']:,.0f}/s ({a['acks_stored']:,} acks stored)",
            "≥ 1,000/s",
            a["per_s"] >= 1000,
        ),
        Row(
            "5. Ack webhook latency",
            f"p50 {a['p50_ms']:.0f} ms, p99 {a['p99_ms']:.0f} ms ({a['in_flight']} in flight)",
            "p99 < 100 ms",
            a["p99_ms"] < 100,
        ),
    ]


def _escalation_row(f: dict[str, Any]) -> list[Row]:
    e = f.get("escalation")
    if not e or e.get("p99_s") is None:
        return []
    pending = max(e["pending_officials_per_alert"])
    measured = (
        f"p50 {e['p50_s']:.2f} s, p99 {e['p99_s']:.2f} s, max {e['max_s']:.2f} s "
        f"({e['steps_fired']} steps, {pending:,} pending)"
    )
    return [Row("6. Escalation step lateness", measured, "p99 < 1 s", e["p99_s"] < 1)]


def _memory_rows(f: dict[str, Any]) -> list[Row]:
    m = f.get("memory") or {}
    rows = []
    if dig(m, "redis_per_delivery.bytes_per_item") is not None:
        b = m["redis_per_delivery"]["bytes_per_item"]
        rows.append(Row("7. Redis per delivery", f"{b:,.0f} B", "< 1 KB", b < 1024))
    if dig(m, "redis_per_official.bytes_per_item") is not None:
        rows.append(
            Row("7. Redis per official", f"{m['redis_per_official']['bytes_per_item']:,.0f} B", "", None)
        )
    rss = m.get("peak_rss_mib")
    if rss:
        text = f"API {', '.join(map(str, rss['api']))} MiB; workers {', '.join(map(str, rss['worker']))} MiB"
        rows.append(Row("7. Peak RSS (VmHWM)", text, "", None))
    return rows


def _paced_row(f: dict[str, Any]) -> list[Row]:
    p = f.get("paced")
    if not p:
        return []
    sms, voice = p["sms"], p["voice"]
    measured = (
        f"SMS {sms['actual_s']:.1f} s vs {sms['ideal_s']:.1f} s ({sms['deviation']:+.1%}), "
        f"calls {voice['actual_s']:.1f} s vs {voice['ideal_s']:.1f} s ({voice['deviation']:+.1%}); "
        f"429s: {p['responses_429']} ({p['officials']:,} officials)"
    )
    return [Row("Provider limits (100 SMS/s, 30 calls/s)", measured, "±5%, no 429", p["met"])]


def _console_rows(f: dict[str, Any]) -> list[Row]:
    return console_rows(f, Row)


def _schools_view_rows(f: dict[str, Any]) -> list[Row]:
    return schools_view_rows(f, Row)


def _scaling_rows(f: dict[str, Any]) -> list[Row]:
    return scaling_rows(f, Row)


def _scale_rows(f: dict[str, Any]) -> list[Row]:
    return scale_rows(f, Row)


SECTIONS: list[Callable[[dict[str, Any]], list[Row]]] = [
    _fanout_rows,
    _ceiling_row,
    _naive_rows,
    _priority_row,
    _ack_rows,
    _escalation_row,
    _memory_rows,
    _paced_row,
    _digest_rows,
    _console_rows,
    _schools_view_rows,
    _scaling_rows,
    _scale_rows,
]


def build_rows(results: dict[str, Any]) -> list[Row]:
    figures = results.get("figures", {})
    return [row for section in SECTIONS for row in section(figures)]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| figure | measured | target | |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.figure} | {r.measured} | {r.target or '—'} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    """The table for a terminal: aligned columns, no markdown."""
    cells = [("figure", "measured", "target", "")] + [
        (r.figure, r.measured, r.target or "-", r.verdict.replace("*", "").replace("—", "-")) for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    out = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def write_results(results: dict[str, Any], rows: list[Row], path: Path) -> None:
    results["table"] = [
        {"figure": r.figure, "measured": r.measured, "target": r.target, "met": r.met} for r in rows
    ]
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine['nproc']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}; load average at start {machine['load_average_at_start'][0]}"
    )


def readme_section(results: dict[str, Any], rows: list[Row], command: str) -> str:
    machine = results["machine"]
    p = results["parameters"]
    notes = "\n".join(f"- {note}" for note in results.get("findings", []))
    return f"""{README_START}
## Benchmark

`make bench` (or `.venv/bin/python -m bench`) starts a private Redis and the whole hub as real processes
(simulators with no added latency, API, 2 workers, scheduler), imports a synthetic registry of
`--officials N` (default 50,000), and measures each figure below against its target. It prints the table,
writes `bench/results.json` (every run's raw figures, the machine, the parameters, py-spy summaries) and
`bench/fanout.png` (deliveries per second during the statewide fan-out), plus `bench/profile-*.svg` flame
graphs (py-spy, non-blocking) of the worker, API and simulator during the fan-out, of the API while it takes
the statewide POST and the ack load, and of the scheduler during the escalation figure. `--quick` is a
one-minute smoke run; `python -m bench --help` lists the rest. Everything it starts is stopped at the
end, on errors and on Ctrl-C; it never touches a Redis it did not start.

How the figures are taken:
- Times are the simulators' own `received_at` clocks (`/sim/stats` first/last request per kind); a
  delivery is one SMS, one call or one email personalization. A statewide fan-out and its callbacks
  take minutes at the default size, so it runs {p["fanout_repeats"]} time(s) (`--fanout-repeats 3` for
  a median); the ceiling and baselines are medians of {p["repeats"]} runs.
- Ceiling: 100 form-encoded Messages POSTs in flight from one aiohttp session, no StatusCallback (the
  least work the simulator can do per request). The pipeline's figure is its Twilio requests (SMS and
  calls) per second; email requests carry 1,000 personalizations each and are left out of that ratio.
- Naive baseline: {p["naive_messages"]} SMS, one rq job each, {p["naive_workers"]} default forking
  `rq worker`s, sync `Client.messages.create`. "As installed" imports the SDK's Messages API in every
  forked job; "SDK preloaded" imports it in the worker's parent first (`bench/naive_rq_config.py`),
  the naive design at its best.
- Priority: critical alerts to one district each, {p["critical_gap_s"]:g} s apart, into a bulk send to
  everyone: an SMS digest notice through the shared fan-out step (`FanOut.send`) at bulk priority.
- Digest: two editors' items (one statewide, one per region), approved, sent by `alertnet digest
  run-due --at` the issue's send time; a critical alert is posted once its first email request is in.
- Acks: a second process replays signed "1" replies from distinct officials with an open alert,
  {p["ack_in_flight"]} in flight, bounded by count and time; each must come back as a stored first ack.
- Per-school view: a statewide SMS lockdown, then signed "1" replies paced at 1,000/s from a second
  process while one client reads `GET /v1/alerts/{{id}}/schools` 5 times a second (timed to the last byte).
- Escalation: the "extreme" policy at `ALERTNET_ESCALATION_TIME_SCALE={p["escalation_time_scale"]:g}`
  on {p["escalation_alerts"]} statewide alerts, lateness read from `an:esc:lateness`; the workers are
  stopped meanwhile (each step queues up to one send per pending official).

Latest run: {machine["date"]}, `{command}`, on {machine_line(machine)}.

{markdown_table(rows)}

{notes}
{README_END}"""


def update_readme(readme: Path, section: str) -> None:
    """Replace the text between the bench markers, or append the section at the end."""
    text = readme.read_text()
    if README_START in text and README_END in text:
        head, rest = text.split(README_START, 1)
        _, tail = rest.split(README_END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(text)


def _cpu_finding(run: dict[str, Any]) -> str:
    cpu = run["cpu_seconds"]
    hub = sum(v for k, v in cpu.items() if k not in ("whole_machine", "wall"))
    available = 2 * cpu["wall"]
    parts = ", ".join(f"{k} {v:.0f}" for k, v in cpu.items() if k not in ("whole_machine", "wall"))
    return (
        f"Where the fan-out's time goes: in its {cpu['wall']:.0f} s the hub used {hub:.0f} CPU-seconds "
        f"({parts}) of the {available:.0f} two cores offer; the whole machine was busy for "
        f"{cpu['whole_machine']:.0f} (the rest is the bench's polling and other processes)."
    )


def _profile_finding(key: str, summary: dict[str, Any]) -> str | None:
    packages = summary.get("packages_self_percent_of_busy")
    ours = summary.get("innermost_alertnet_frame_percent_of_busy")
    if not packages:
        return None
    top = ", ".join(f"{p} {s:.0f}%" for p, s in packages[:5])
    calls = "; ".join(f"`{frame.split(' (')[0]}` {s:.0f}%" for frame, s in (ours or [])[:3])
    phase, _, process = key.partition(":")
    return f"py-spy, {process} during {phase} (busy samples by package): {top}. Charged to our code: {calls}."


def _settle_finding(run: dict[str, Any]) -> list[str]:
    settled, hooks = run.get("settled_after_post_s"), run.get("webhooks_to_hub")
    if not settled or not hooks:
        return []
    posts = hooks["posted"] + hooks["rejected"] + hooks["failed"]
    return [
        f"Every delivery's final receipt was in {settled:.0f} s after the POST: besides the "
        f"{run['deliveries']:,} deliveries, the simulators made {posts:,} webhook requests to the API "
        f"(status callbacks and TwiML fetches) and posted {hooks['email_events']:,} SendGrid events."
    ]


def findings(results: dict[str, Any]) -> list[str]:
    """Facts of this run worth a sentence: CPU split, profiles, settle time."""
    out: list[str] = []
    runs = dig(results, "figures.fanout.runs") or []
    if runs:
        out.append(_cpu_finding(runs[-1]))
        out += _settle_finding(runs[-1])
    for name, summary in (results.get("profiles") or {}).items():
        line = _profile_finding(name, summary)
        if line:
            out.append(line)
    if results.get("error"):
        out.append(f"The run stopped early: {results['error']}")
    return out
