"""A drill's report as CSV (one table: a row per school, per district and for the state) and as a
printable HTML page in the shape of an HSEEP after-action report; the plan's figures as CSV. Text cells
go through `csv_cell` (never a spreadsheet formula). Nothing here reads the clock: the same report gives
the same bytes."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from alertnet.content.reports import csv_cell
from alertnet.content.templates import environment

DRILL_COLUMNS = (
    "level",
    "district",
    "school",
    "participated",
    "first_ack_seconds",
    "sent",
    "delivered",
    "failed",
    "failed_by_reason",
    "acknowledged",
    "schools_targeted",
    "schools_participating",
    "percent_participating",
    "median_ack_seconds",
    "p90_ack_seconds",
    "slowest_school",
    "slowest_school_seconds",
    "districts_with_none",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return csv_cell(str(value))


def _write(columns: tuple[str, ...], rows: list[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def drill_csv(report: Mapping[str, Any]) -> str:
    """The report's figures: a row per school, then per district, then the state's."""
    rows: list[Mapping[str, Any]] = [{"level": "school", **s} for s in report["schools"]]
    for d in report["districts"]:
        slowest = d["slowest_school"] or {}
        reasons = "; ".join(f"{reason}: {n}" for reason, n in d["failed_by_reason"].items())
        rows.append(
            {
                "level": "district",
                **d,
                "failed_by_reason": reasons,
                "slowest_school": slowest.get("school"),
                "slowest_school_seconds": slowest.get("first_ack_seconds"),
            }
        )
    state = report["state"]
    rows.append({"level": "state", **state, "districts_with_none": "; ".join(state["districts_with_none"])})
    return _write(DRILL_COLUMNS, rows)


def drill_html(report: Mapping[str, Any]) -> str:
    """The printable after-action report (HSEEP shape: overview, analysis per objective, improvement plan)."""
    return environment().get_template("drill_report.html.j2").render(r=report)


PARTICIPATION_COLUMNS = (
    "level",
    "district",
    "school",
    "schools",
    "reached",
    "safety_coordinator",
    "cybersecurity_coordinator",
    "drills_participated",
    "two_or_more_drills",
    "weekly_update",
)


def participation_csv(report: Mapping[str, Any]) -> str:
    """The plan's figures: a row per school, per district and the state's (counts of schools)."""
    rows: list[Mapping[str, Any]] = [{"level": "school", **s} for s in report["schools"]]
    rows += [{"level": "district", **d} for d in report["districts"]]
    rows.append({"level": "state", **report["state"]})
    return _write(PARTICIPATION_COLUMNS, rows)
