"""The console's alert drafts, pure: what a composer form becomes (the same request `POST /v1/alerts`
takes), who it would reach per channel and where coverage is missing, and the confirmation an Actual
alert needs. The status is chosen first and fixed for the draft: a drill can never turn into Actual."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alertnet.domain.alerts import Status
from alertnet.domain.contacts import Official, address_for
from alertnet.domain.escalation import Policy, plan_steps
from alertnet.domain.messages import Channel
from alertnet.domain.polls import poll_form, poll_from_form

AUDIENCE_KINDS = ("statewide", "regions", "counties", "districts", "schools", "roles")
TEXT_FIELDS = ("event", "headline", "description", "instruction", "severity", "urgency", "certainty")
DRAFT_ID = re.compile(r"^d_[0-9a-f]{16}$")


def new_draft_id() -> str:
    return "d_" + secrets.token_hex(8)


@dataclass(frozen=True)
class Draft:
    """An alert being composed by one sender. `fields` holds the form as typed (strings and lists)."""

    id: str
    author: str
    status: Status
    created: float
    fields: Mapping[str, Any] = field(default_factory=dict)
    alert_id: str = ""  # set once sent: sending the draft again shows that alert, sends nothing
    follows: str = ""  # an Update of this alert: it goes to whoever that alert reached

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "author": self.author,
            "status": self.status.value,
            "created": self.created,
            "fields": dict(self.fields),
            "alert_id": self.alert_id,
            "follows": self.follows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Draft:
        return cls(
            id=str(data["id"]),
            author=str(data["author"]),
            status=Status(data["status"]),
            created=float(data["created"]),
            fields=dict(data.get("fields", {})),
            alert_id=str(data.get("alert_id", "")),
            follows=str(data.get("follows", "")),
        )

    @property
    def live(self) -> bool:
        return self.status is Status.ACTUAL


def _values(text: str) -> list[str]:
    """A picker's values: one per line or comma-separated, blanks dropped, order kept, no repeats."""
    seen: dict[str, None] = {}
    for part in re.split(r"[\n,]", text):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)


def form_fields(form: Mapping[str, Any], channels: Iterable[str]) -> dict[str, Any]:
    """The composer form as kept in the draft (the status is never taken from a form)."""
    kept: dict[str, Any] = {key: str(form.get(key, "")).strip() for key in TEXT_FIELDS}
    kind = str(form.get("audience_kind", "")).strip()
    kept["audience_kind"] = kind if kind in AUDIENCE_KINDS else ""
    kept["audience_values"] = str(form.get("audience_values", "")).strip()
    kept["roles"] = str(form.get("roles", "")).strip()
    kept["template"] = str(form.get("template", "")).strip()
    kept["poll_question"] = str(form.get("poll_question", "")).strip()  # a status check (optional)
    kept["poll_answers"] = str(form.get("poll_answers", "")).strip()
    kept["channels"] = [c for c in dict.fromkeys(channels) if c in {ch.value for ch in Channel}]
    return kept


def audience_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The request's `audience` object from the picker (roles narrow any place, or alone go statewide)."""
    kind = fields.get("audience_kind", "")
    roles = _values(str(fields.get("roles", "")))
    audience: dict[str, Any] = {}
    if kind == "statewide":
        audience["statewide"] = True
    elif kind == "roles":
        audience["roles"] = _values(str(fields.get("audience_values", "")))
    elif kind:
        audience[kind] = _values(str(fields.get("audience_values", "")))
    if roles and kind != "roles":
        audience["roles"] = roles
    return audience


def alert_request(draft: Draft) -> dict[str, Any]:
    """The `POST /v1/alerts` body this draft sends (empty fields left out, so the API names them)."""
    f = draft.fields
    body: dict[str, Any] = {"status": draft.status.value, "msgType": "Alert"}
    if draft.follows:
        body.update(msgType="Update", references=[draft.follows])
    for key in TEXT_FIELDS:
        if f.get(key):
            body[key] = f[key]
    body["audience"] = audience_of(f)
    body["channels"] = list(f.get("channels", []))
    if poll := poll_from_form(str(f.get("poll_question", "")), str(f.get("poll_answers", ""))):
        body["poll"] = poll
    return body


def update_fields(original: Mapping[str, Any]) -> dict[str, Any]:
    """The composer form pre-filled from a sent alert, for its Update: the same texts, levels, channels
    and audience (an Update goes to whoever the original reached, whatever the picker says)."""
    fields: dict[str, Any] = {key: str(original.get(key, "") or "") for key in TEXT_FIELDS}
    audience = dict(original.get("audience", {}))
    roles = audience.pop("roles", [])
    kind = next((k for k in AUDIENCE_KINDS if audience.get(k)), "roles" if roles else "")
    values = roles if kind == "roles" else [] if kind == "statewide" else audience.get(kind, [])
    fields["audience_kind"] = kind
    fields["audience_values"] = "\n".join(str(v) for v in values)
    fields["roles"] = "\n".join(str(r) for r in roles) if kind != "roles" else ""
    fields["template"] = ""
    fields["channels"] = [str(c) for c in original.get("channels", [])]
    fields["poll_question"], fields["poll_answers"] = poll_form(original.get("poll"))
    return fields


def confirmed(draft: Draft, typed: str) -> bool:
    """An Actual alert is sent only when the sender typed its event name (case and spaces aside); a
    drill or test needs no typing."""
    if not draft.live:
        return True
    event = str(draft.fields.get("event", ""))
    return bool(event) and " ".join(typed.split()).casefold() == " ".join(event.split()).casefold()


@dataclass(frozen=True)
class Coverage:
    """Who an audience reaches per channel, and the gaps before anything is sent."""

    officials: int
    per_channel: dict[str, int]
    schools: int
    schools_unreachable: list[str]  # targeted schools with nobody reachable by SMS or voice
    bouncing: int  # targeted email addresses known to bounce

    def to_dict(self) -> dict[str, Any]:
        return {
            "officials": self.officials,
            "per_channel": self.per_channel,
            "schools": self.schools,
            "schools_unreachable": self.schools_unreachable,
            "bouncing": self.bouncing,
        }


def coverage(officials: list[Official], channels: Iterable[Channel], bouncing: frozenset[str]) -> Coverage:
    """Counts for the officials an audience resolved to. A school is (district, school)."""
    chosen = list(channels)
    per_channel = {c.value: sum(1 for o in officials if address_for(c, o)) for c in chosen}
    schools: dict[tuple[str, str], bool] = {}
    for o in officials:
        if not o.school:
            continue
        reachable = bool(o.mobile or o.voice)
        key = (o.district, o.school)
        schools[key] = schools.get(key, False) or reachable
    unreachable = sorted(f"{school} ({district})" for (district, school), ok in schools.items() if not ok)
    bounced = sum(1 for o in officials if o.email and o.email.lower() in bouncing)
    return Coverage(len(officials), per_channel, len(schools), unreachable, bounced)


def with_template(fields: Mapping[str, Any], template: Any) -> dict[str, Any]:
    """The form with a template's texts, levels and channels filled in (the audience stays)."""
    data = template.to_dict()
    filled = dict(fields)
    for key in TEXT_FIELDS:
        filled[key] = data[key]
    filled["channels"] = list(data["channels"])
    filled["template"] = data["key"]
    return filled


def mask_number(number: str) -> str:
    """A phone number as a live view may show it: its last two digits only."""
    return f"•••{number[-2:]}" if len(number) >= 4 else ""


def escalation_view(
    plan: Mapping[str, Any] | None,
    policies: Mapping[str, Policy],
    waiting: tuple[set[int], set[int]],
    totals: Mapping[str, int],
    now: float,
) -> list[dict[str, Any]]:
    """The alert's escalation steps for its live view: whom and how each reaches, when it is or was due,
    and what became of it (due, firing, sent to how many, or not needed: everyone had answered)."""
    if not plan:
        return []
    due, firing = waiting
    steps = plan_steps(plan, policies)  # the policy's version the alert started with
    out = []
    for w in plan.get("waves", []):
        wave, index = int(w["wave"]), int(w["step"])
        step = steps[index] if index < len(steps) else None
        sent = sum(n for slot, n in totals.items() if slot.endswith(f"@{wave}"))
        if wave in firing:
            state = "firing now"
        elif wave in due:
            left = float(w["due"]) - now
            state = f"due in {int(left // 60)} min {int(left % 60)} s" if left > 0 else "due now"
        elif sent:
            state = f"sent to {sent}"
        else:
            state = "not needed (everyone it would reach had answered, or the alert closed)"
        out.append(
            {
                "wave": wave,
                "step": index + 1,
                "repetition": int(w.get("repetition", 0)),
                "whom": ", ".join(x.value.replace("_", " ") for x in step.whom) if step else "",
                "channels": ", ".join(c.value for c in step.channels) if step else "",
                "due": float(w["due"]),
                "done": wave not in due and wave not in firing,
                "state": state,
            }
        )
    return out
