"""The operator console's pages, rendered from the package's templates (`console_*.html.j2`). Every
page gets the signed-in sender, the CSRF token its forms carry, and the look of the draft's status:
Exercise and Test never look like Actual (colour, banner, wording)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from alertnet.content.alerts import KIND_WORDS
from alertnet.content.reports import csv_cell
from alertnet.content.templates import environment
from alertnet.domain.after_action import AfterAction

LOOKS: dict[str, dict[str, str]] = {
    "Actual": {
        "css": "actual",
        "banner": "ACTUAL ALERT: real people will be alerted now",
        "send": "Send the ACTUAL alert",
        "confirm": "Type the event name to send this ACTUAL alert to real people:",
    },
    "Exercise": {
        "css": "exercise",
        "banner": "EXERCISE: this is a drill, every message says so",
        "send": "Send the exercise",
        "confirm": "This exercise is marked EXERCISE in every message.",
    },
    "Test": {
        "css": "test",
        "banner": "TEST: a technical test, every message says so",
        "send": "Send the test",
        "confirm": "This test is marked TEST in every message.",
    },
}


def look(status: str) -> dict[str, str]:
    """How a status looks in the console (an unknown one looks like Actual: the cautious side)."""
    return LOOKS.get(status, LOOKS["Actual"])


KIND_BY_TYPE = {kind.value: word for kind, word in KIND_WORDS.items()}


def kind_of(msg_type: str | None) -> str:
    """A stored alert's follow-up word, as its messages say it (UPDATE, CANCELLED); empty otherwise."""
    return KIND_BY_TYPE.get(msg_type or "", "")


def console_page(template: str, *, sender: Any = None, csrf: str = "", **context: Any) -> str:
    """One console page: `template` is `console_<name>.html.j2`'s name part."""
    return (
        environment()
        .get_template(f"console_{template}.html.j2")
        .render(sender=sender, csrf=csrf, looks=LOOKS, look=look, kind_of=kind_of, **context)
    )


def status_look(record: Mapping[str, Any]) -> dict[str, str]:
    return look(str(record.get("alert", {}).get("status", "Actual")))


ROW_COLUMNS = ("district", "channel", "sent", "delivered", "failed", "acknowledged", "median_ack_seconds")


def after_action_csv(report: AfterAction) -> str:
    """The after-action report as CSV: the timeline, then one row per district and channel, then the
    failures by reason and the corrections (every text cell formula-safe)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "value"])
    for label, value in report.timeline:
        writer.writerow(["timeline", label, csv_cell(value)])
    writer.writerow([])
    writer.writerow(
        ["district", "channel", "sent", "delivered", "failed", "acknowledged", "median_ack_seconds"]
    )
    for row in report.rows:
        median = row.median_ack_seconds
        writer.writerow(
            [csv_cell(row.district), row.channel, row.sent, row.delivered, row.failed, row.acknowledged,
             "" if median is None else f"{median:.1f}"]
        )  # fmt: skip
    writer.writerow([])
    writer.writerow(["failure", "count"])
    for reason, n in report.failures:
        writer.writerow([csv_cell(reason), n])
    writer.writerow([])
    writer.writerow(["correction", "msgType", "event", "sent"])
    for alert in report.corrections:
        writer.writerow([alert["identifier"], alert["msgType"], csv_cell(str(alert["event"])), alert["sent"]])
    return out.getvalue()
