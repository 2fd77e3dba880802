"""Reports the hub writes for people to open in a spreadsheet: the after-action acknowledgements CSV.

Every text cell goes through `csv_cell`: a spreadsheet runs a cell that starts with ``=``, ``+``, ``-``,
``@``, tab or carriage return as a formula, so such a cell is written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from alertnet.domain.acks import AckReport

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """`value` as a spreadsheet shows it, never as a formula it would run."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


CSV_COLUMNS = ("official_id", "name", "role", "school", "district", "county", "region")


def report_csv(report: AckReport) -> str:
    """The after-action export: one row per official the alert went to, acknowledged first; `at` is
    ISO 8601 UTC so a spreadsheet reads it as a time."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "acknowledged", "at", "channel"])
    rows = [(o, a) for o, a in report.acknowledged] + [(o, None) for o in report.pending]
    for official, ack in rows:
        who = [official.id, official.name, official.role.value, official.school, official.district]
        who += [official.county, official.region]
        if ack is None:
            writer.writerow([*map(csv_cell, who), "no", "", ""])
        else:
            at = datetime.fromtimestamp(ack.at, UTC).isoformat(timespec="milliseconds")
            writer.writerow([*map(csv_cell, who), "yes", at.replace("+00:00", "Z"), ack.channel.value])
    return out.getvalue()
