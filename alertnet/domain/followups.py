"""Updates, cancellations and all-clears of an earlier alert (pure): what status they carry and whom
they reach.

- A follow-up has the status of the alert it references: an Update never turns an Exercise into an Actual
  alert (or back). Without a status it inherits the original's; with another one it is refused.
- It reaches everyone any message of the original reached: the original recipients on the follow-up's
  channels, and whoever an escalation step reached (a backup, a superintendent) on the channels that
  reached them, so nobody who heard of the emergency misses that it is over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alertnet.domain.alerts import MsgType
from alertnet.domain.contacts import Official, address_for
from alertnet.domain.errors import FieldError
from alertnet.domain.messages import Channel

FOLLOW_UP_TYPES = (MsgType.UPDATE.value, MsgType.CANCEL.value)


def referenced_ids(payload: object) -> list[str]:
    """The alert ids a follow-up request references, as given (before validation)."""
    if not isinstance(payload, dict) or payload.get("msgType") not in FOLLOW_UP_TYPES:
        return []
    refs = payload.get("references")
    if not isinstance(refs, list):
        return []
    return [r.strip().upper() for r in refs if isinstance(r, str)]


def with_inherited_status(payload: object, statuses: Mapping[str, str | None]) -> object:
    """The request with the referenced alert's status filled in when a follow-up leaves it out."""
    refs = referenced_ids(payload)
    if not isinstance(payload, dict) or payload.get("status") is not None or not refs:
        return payload
    status = statuses.get(refs[0])
    return payload if status is None else {**payload, "status": status}


def reference_problems(
    references: Sequence[str], status: str, statuses: Mapping[str, str | None]
) -> list[FieldError]:
    """Each reference that names no alert, or an alert of another status than the follow-up's."""
    problems = []
    for n, ref in enumerate(references):
        original = statuses.get(ref)
        if original is None:
            problems.append(FieldError(f"references[{n}]", f"no alert with id '{ref}'"))
        elif original != status:
            problems.append(
                FieldError(
                    "status",
                    f"must be '{original}', the status of the alert it references (references[{n}]); "
                    "an update or cancellation never changes an alert's status",
                )
            )
    return problems


def follow_up_recipients(
    channels: Sequence[Channel],
    first: Sequence[str],
    reached: Mapping[str, set[Channel]],
    registry: Mapping[str, Official],
) -> dict[Channel, list[str]]:
    """Official ids per channel: the original recipients (`first`) on `channels`, and whoever escalation
    `reached` on the channels that reached them; active officials with an address there, each once."""
    chosen: dict[Channel, dict[str, None]] = {channel: {} for channel in channels}
    for official_id in first:
        for channel in channels:
            chosen[channel][official_id] = None
    for official_id, by in reached.items():
        for channel in by:
            chosen.setdefault(channel, {})[official_id] = None
    result: dict[Channel, list[str]] = {}
    for channel, ids in chosen.items():
        found = [
            i for i in ids if (o := registry.get(i)) is not None and o.active and address_for(channel, o)
        ]
        if found or channel in channels:
            result[channel] = sorted(found)
    return result


def cancel_in_error_request(alert_id: str, original: Mapping[str, Any]) -> dict[str, Any]:
    """The prepared Cancel of an alert sent in error (the pre-scripted correction Hawaii lacked in
    2018): same status, audience and channels, referencing it."""
    return {
        "status": original["status"],
        "msgType": "Cancel",
        "references": [alert_id],
        "severity": "Minor",
        "urgency": "Past",
        "certainty": "Observed",
        "event": original["event"],
        # Every channel says CANCELLED before the title already: the headline need not.
        "headline": f"{original['event']} alert was sent in error"[:160],
        "instruction": "Disregard the earlier alert. There is no emergency.",
        "audience": original["audience"],
        "channels": original["channels"],
    }
