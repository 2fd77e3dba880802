"""The two-person rule, pure: an Actual alert to more than a configured number of officials waits for a
second director, and nobody approves their own (checked by sender identity, whatever the role). A state
may configure a fallback for a night when no second director answers; the default is to keep waiting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from alertnet.domain.alerts import Alert, MsgType, Status


class ApprovalState(StrEnum):
    PENDING = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    SENT_UNAPPROVED = "sent_unapproved"  # the configured fallback sent it; audited as such


class Fallback(StrEnum):
    NONE = "none"  # keep waiting for a second director
    SEND = "send"  # send after `fallback_seconds`, audited as unapproved


def needs_approval(alert: Alert, officials: int, threshold: int) -> bool:
    """Only new Actual alerts to more than `threshold` officials wait (0 turns the rule off). Follow-ups
    (Update, Cancel, all-clear) never wait: a correction must go out at once."""
    return (
        threshold > 0
        and alert.status is Status.ACTUAL
        and alert.msg_type is MsgType.ALERT
        and officials > threshold
    )


def approval_refusal(author: str, approver: str, approver_is_director: bool) -> str | None:
    """Why this sender may not approve or reject, or None."""
    if not approver_is_director:
        return "only a director may approve or reject an alert"
    if approver == author:
        return f"'{author}' wrote this alert: a second director must approve it"
    return None


@dataclass(frozen=True)
class HeldAlert:
    """An alert waiting for a second director (the alert itself is signed when it is approved)."""

    alert: Alert
    officials: int
    created: float
    state: ApprovalState = ApprovalState.PENDING
    decided_by: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert.to_dict(),
            "officials": self.officials,
            "created": self.created,
            "state": self.state.value,
            "decided_by": self.decided_by,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeldAlert:
        return cls(
            alert=Alert.from_dict(data["alert"]),
            officials=int(data["officials"]),
            created=float(data["created"]),
            state=ApprovalState(data.get("state", ApprovalState.PENDING.value)),
            decided_by=str(data.get("decided_by", "")),
            reason=str(data.get("reason", "")),
        )

    def view(self) -> dict[str, Any]:
        """What the API shows of a held alert."""
        return {
            "id": self.alert.id,
            "state": self.state.value,
            "author": self.alert.sender,
            "status": self.alert.status.value,
            "event": self.alert.event,
            "headline": self.alert.headline,
            "officials": self.officials,
            "created": self.created,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "links": {
                "approve": f"/v1/alerts/{self.alert.id}/approve",
                "reject": f"/v1/alerts/{self.alert.id}/reject",
            },
        }


def page_request(held: HeldAlert, directors: list[str], console_url: str) -> dict[str, Any]:
    """The alert that pages the other directors (their own registry entries) about a held alert: SMS and
    call, Actual (it is a real request for a decision), small enough never to wait for approval itself."""
    alert = held.alert
    return {
        "status": "Actual",
        "msgType": "Alert",
        "severity": "Moderate",
        "urgency": "Immediate",
        "certainty": "Observed",
        "event": "Approval needed",
        "headline": f"{alert.sender} asks a second director to approve a {alert.status.value} "
        f"{alert.event} alert to {held.officials} officials"[:160],
        "instruction": f"Approve or reject it in the console: {console_url}/console/alerts/{alert.id}"[:1000],
        "audience": {"officials": directors},
        "channels": ["sms", "voice"],
    }
