"""bench/fanout.png: deliveries per second over the statewide fan-out, by channel."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BIN_S = 1.0
KINDS = ("SMS", "calls", "email personalizations")


def per_second(timeline: list[list[float]]) -> tuple[list[float], list[list[float]]]:
    """Bin cumulative samples (t, sms, voice, email) into deliveries per second per channel."""
    if not timeline:
        return [], [[], [], []]
    end = timeline[-1][0]
    bins = int(end / BIN_S) + 1
    rates = [[0.0] * bins for _ in KINDS]
    for before, after in itertools.pairwise(timeline):
        slot = min(bins - 1, int(after[0] / BIN_S))
        for kind in range(len(KINDS)):
            rates[kind][slot] += (after[kind + 1] - before[kind + 1]) / BIN_S
    # A closing point so step="post" draws the last bin too.
    return [i * BIN_S for i in range(bins + 1)], [r + r[-1:] for r in rates]


def plot_fanout(run: dict[str, Any], ceiling_per_s: float | None, path: Path, title: str) -> None:
    times, rates = per_second(run["timeline"])
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    ax.stackplot(times, *rates, labels=KINDS, step="post", alpha=0.85)
    if ceiling_per_s:
        ax.axhline(ceiling_per_s, color="black", linestyle="--", linewidth=1)
        ax.annotate(
            f"simulator ceiling, Twilio requests/s ({ceiling_per_s:,.0f})",
            (0, ceiling_per_s),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=9,
        )
    ax.axvline(run["first_sms_s"], color="green", linewidth=1)
    ax.axvline(run["post_to_last_request_s"], color="red", linewidth=1)
    ax.annotate("first SMS", (run["first_sms_s"], 0), textcoords="offset points", xytext=(3, 12), fontsize=9)
    ax.annotate(
        "last provider request",
        (run["post_to_last_request_s"], 0),
        textcoords="offset points",
        xytext=(-120, 12),
        fontsize=9,
    )
    ax.set_xlabel("seconds after the alert was POSTed")
    ax.set_ylabel(f"deliveries per second ({BIN_S:g} s bins, as counted by the simulators)")
    ax.set_title(title)
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
