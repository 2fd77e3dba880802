"""The bench's parameters: defaults sized to finish in under 10 minutes on a 2-core machine, and `--quick`."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class BenchConfig:
    officials: int = 50_000
    quick: bool = False
    workers: int = 2  # hub worker processes, as `make run` starts them
    fanout_repeats: int = 1  # each statewide fan-out (and its callbacks) costs minutes at the default size
    repeats: int = 3  # for the cheap figures: ceiling and naive baseline
    ceiling_requests: int = 30_000
    ceiling_seconds: float = 8.0
    naive_messages: int = 400
    naive_workers: int = 2
    criticals: int = 5
    critical_gap_s: float = 3.0
    ack_max: int = 20_000
    ack_seconds: float = 15.0
    ack_in_flight: int = 32
    console_repeats: int = 3  # pairs of statewide fan-outs without and with 20 live views (0: skip)
    schools_view_seconds: float = 30.0  # the per-school view read while acks arrive at 1,000/s (0: skip)
    escalation_alerts: int = 3
    escalation_time_scale: float = 0.02
    escalation_spacing_s: float = 2.0
    paced_officials: int = 1_500
    scaling_officials: int = 20_000  # the 1-, 2- and 4-worker fan-outs, each on a stack of its own (0: skip)
    redis_rate_deliveries: int = 200_000
    sms_rate_per_sender: float = 50.0
    calls_per_second: float = 30.0
    profile: bool = True
    profile_seconds: float = 20.0
    drain_timeout_s: float = 300.0
    out_dir: Path = BENCH_DIR
    keep_workdir: bool = False
    update_readme: bool = True
    scale_only: bool = False  # only the scale figures (bench/scale.py), on a stack of their own

    def parameters(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}


QUICK = {
    "officials": 5_000,
    "repeats": 1,
    "ceiling_requests": 8_000,
    "ceiling_seconds": 3.0,
    "naive_messages": 100,
    "criticals": 3,
    "critical_gap_s": 0.7,
    "ack_max": 3_000,
    "ack_seconds": 5.0,
    "console_repeats": 1,
    "escalation_alerts": 2,
    "escalation_time_scale": 0.01,
    "paced_officials": 300,
    "scaling_officials": 2_000,
    "redis_rate_deliveries": 20_000,
    "profile_seconds": 5.0,
    "drain_timeout_s": 90.0,
    "update_readme": False,
}


SCALE_OFFICIALS = 200_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the whole AlertNet stack (API, Redis, workers, simulators) on this machine.",
    )
    parser.add_argument("--officials", type=int, help="officials in the registry (default 50,000)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run of about a minute")
    parser.add_argument("--repeats", type=int, help="runs of the ceiling and naive baseline (median)")
    parser.add_argument("--fanout-repeats", type=int, help="statewide fan-outs (median; default 1)")
    parser.add_argument(
        "--console-repeats", type=int, help="fan-out pairs without/with 20 live views (default 3; 0 skips)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument("--no-paced", action="store_true", help="skip the provider-limit run")
    parser.add_argument("--no-scaling", action="store_true", help="skip the worker curve and Redis rate")
    parser.add_argument(
        "--no-schools-view", action="store_true", help="skip the per-school view while acks arrive"
    )
    parser.add_argument(
        "--scale-only",
        action="store_true",
        help="only the scale figures: import, first alert after a re-import, memory (default 200,000)",
    )
    parser.add_argument("--out", type=Path, help="where results.json, fanout.png and profiles go")
    parser.add_argument("--keep-workdir", action="store_true", help="keep Redis data and process logs")
    parser.add_argument(
        "--readme",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the table into README.md (default: yes, except with --quick)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    values: dict[str, Any] = dict(QUICK) if args.quick else {}
    values["quick"] = args.quick
    if args.scale_only:  # its own defaults; it leaves the README's full table alone unless asked
        values.update(scale_only=True, officials=SCALE_OFFICIALS, update_readme=False)
    for name, value in (
        ("officials", args.officials),
        ("repeats", args.repeats),
        ("fanout_repeats", args.fanout_repeats),
        ("console_repeats", args.console_repeats),
        ("out_dir", args.out),
        ("update_readme", args.readme),
    ):
        if value is not None:
            values[name] = value
    if args.no_profile:
        values["profile"] = False
    if args.no_paced:
        values["paced_officials"] = 0
    if args.no_scaling:
        values["scaling_officials"] = 0
    if args.no_schools_view:
        values["schools_view_seconds"] = 0.0
    values["keep_workdir"] = args.keep_workdir
    return BenchConfig(**values)
