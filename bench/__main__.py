"""`python -m bench`: run the benchmark, print the table, write results.json, fanout.png and README."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from alertnet.logs import configure_logging
from bench.config import BenchConfig, build_parser, config_from_args
from bench.plot import plot_fanout
from bench.report import build_rows, findings, readme_section, text_table, update_readme, write_results
from bench.run import run_bench
from bench.scale import run_scale_only
from bench.stack import REPO


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through every `with` that stops what it started


def report(results: dict[str, Any], config: BenchConfig, command: str) -> None:
    results["findings"] = findings(results)
    rows = build_rows(results)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    write_results(results, rows, config.out_dir / "results.json")
    runs = results["figures"].get("fanout", {}).get("runs")
    if runs:
        n = results["figures"]["fanout"]["deliveries"]
        title = f"Statewide fan-out: {n:,} deliveries to {config.officials:,} officials x 3 channels"
        ceiling = results["figures"].get("ceiling", {}).get("requests_per_s")
        plot_fanout(runs[-1], ceiling, config.out_dir / "fanout.png", title)
    print()
    print(text_table(rows))
    for line in results["findings"]:
        print(f"- {line}")
    print(
        f"\nwrote {config.out_dir / 'results.json'}"
        + (f" and {config.out_dir / 'fanout.png'}" if runs else "")
    )
    if config.update_readme:
        update_readme(REPO / "README.md", readme_section(results, rows, command))
        print("updated the bench section of README.md")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("WARNING")  # the in-process bulk send logs through alertnet's structlog setup
    config = config_from_args(args)
    command = "python -m bench" + ("" if not sys.argv[1:] else " " + " ".join(sys.argv[1:]))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        results = run_scale_only(config) if config.scale_only else run_bench(config)
    except KeyboardInterrupt:
        print("\ninterrupted: every process the bench started has been stopped", file=sys.stderr)
        return 130
    report(results, config, command)
    return 1 if results.get("error") else 0


if __name__ == "__main__":
    raise SystemExit(main())
