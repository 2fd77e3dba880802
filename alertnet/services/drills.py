"""Notification drills: plan one, send its Exercise alerts (through `AlertService.submit_alert`, linked to
the drill), report on it from the recorded events, keep its improvement plan (every change audited), and
the plan's figures for a school year. Directors plan and edit; directors and viewers read; any other role
is refused (audited)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from alertnet.domain.alerts import parse_datetime
from alertnet.domain.approvals import HeldAlert
from alertnet.domain.contacts import Official
from alertnet.domain.digest import digest_recipient
from alertnet.domain.drill_report import DrillAlert, drill_report, iso
from alertnet.domain.drills import (
    ID_PATTERN,
    DrillValidationError,
    drill_alert_payload,
    parse_drill_request,
    parse_improvement,
)
from alertnet.domain.errors import FieldError
from alertnet.domain.participation import participation, school_year
from alertnet.domain.schools import SchoolKey
from alertnet.domain.senders import Sender, SenderRole
from alertnet.domain.subscriptions import MailingList
from alertnet.services.alerts import AcceptedAlert, AlertService
from alertnet.services.errors import NotFound, NotPermitted
from alertnet.services.once import IdempotentAlerts, SentBefore, request_digest
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore
from alertnet.store.audit import AuditLog
from alertnet.store.digest import SubscriptionStore
from alertnet.store.drills import DrillStore
from alertnet.store.registry import OfficialStore

PLANNERS = frozenset({SenderRole.DIRECTOR})
READERS = frozenset({SenderRole.DIRECTOR, SenderRole.VIEWER})


class DrillService:
    def __init__(
        self,
        *,
        store: DrillStore,
        alerts: AlertService,
        alert_store: AlertStore,
        acks: AckStore,
        officials: OfficialStore,
        subscriptions: SubscriptionStore,
        audit: AuditLog,
        timezone: str,
        once: IdempotentAlerts,
    ) -> None:
        self.store = store
        self.alerts = alerts
        self.once = once
        self.alert_store = alert_store
        self.acks = acks
        self.officials = officials
        self.subscriptions = subscriptions
        self.audit = audit
        self.timezone = timezone

    async def _require(
        self, sender: Sender, roles: frozenset[SenderRole], action: str, **detail: Any
    ) -> None:
        if sender.role in roles:
            return
        await self.audit.record(actor=sender.name, action=action, outcome="forbidden", **detail)
        allowed = ", ".join(sorted(r.value for r in roles))
        raise NotPermitted(
            f"sender role '{sender.role.value}' may not {action.replace('_', ' ')}; roles that may: {allowed}"
        )

    async def require_planner(self, sender: Sender, drill_id: str, action: str) -> None:
        """Raises NotPermitted (audited as `action`) unless the sender may plan drills and edit their
        plans: checked before the request's body is read."""
        await self._require(sender, PLANNERS, action, drill_id=drill_id)

    async def _drill(self, drill_id: str) -> dict[str, Any]:
        drill = await self.store.get(drill_id) if ID_PATTERN.match(drill_id) else None
        if drill is None:
            raise NotFound(f"drill_id: no drill with id '{drill_id}'")
        return drill

    async def plan(self, sender: Sender, payload: object, *, now: float | None = None) -> dict[str, Any]:
        """Plan a drill. Raises NotPermitted (not a director), DrillValidationError."""
        await self._require(sender, PLANNERS, "plan_drill")
        moment = time.time() if now is None else now
        try:
            fields = parse_drill_request(payload, now=moment)
        except DrillValidationError as error:
            await self.audit.record(
                actor=sender.name, action="plan_drill", outcome="invalid",
                errors=[e.to_dict() for e in error.errors],
            )  # fmt: skip
            raise
        drill = {
            "id": "drill-" + secrets.token_hex(8),
            **fields,
            "start_iso": iso(fields["start"]),
            "end_iso": iso(fields["end"]),
            "created_by": sender.name,
            "created_at": moment,
        }
        await self.store.create(drill)
        await self.audit.record(
            actor=sender.name, action="plan_drill", outcome="accepted", drill_id=drill["id"],
            name=drill["name"], type=drill["type"], start=drill["start_iso"], end=drill["end_iso"],
        )  # fmt: skip
        return drill

    async def send_alert(
        self, sender: Sender, drill_id: str, payload: object, *, key: str | None = None
    ) -> AcceptedAlert | SentBefore:
        """Send one of the drill's Exercise alerts and link it to the drill, with its first recipients'
        districts as the registry has them when it is sent. With an Idempotency-Key (`key`), a retry of
        the same request sends nothing again: it is told the alert (SentBefore), linked to the drill if
        the first try stopped before that. Raises NotPermitted, NotFound, DrillValidationError, or what
        `AlertService.submit_alert` (and with a key, `IdempotentAlerts.submit`) raises."""
        await self._require(sender, PLANNERS, "send_drill_alert", drill_id=drill_id)
        drill = await self._drill(drill_id)
        try:
            body = drill_alert_payload(payload, drill, time.time())
        except DrillValidationError as error:
            await self.audit.record(
                actor=sender.name, action="send_drill_alert", outcome="invalid", drill_id=drill_id,
                errors=[e.to_dict() for e in error.errors],
            )  # fmt: skip
            raise
        registry = (await self.officials.snapshot()).by_id
        accepted: AcceptedAlert | HeldAlert | SentBefore
        if key is None:
            accepted = await self.alerts.submit_alert(sender, body)
        else:  # the drill and the request make two tries the same (the body sent carries the time)
            same = f"drill {drill_id} {request_digest(payload)}"
            accepted = await self.once.submit(sender, body, key, same_as=same)
        if isinstance(accepted, SentBefore):
            await self._link_again(drill_id, accepted.alert_id, registry)
            return accepted
        if isinstance(accepted, HeldAlert):  # an Exercise is never held; kept for the type
            raise DrillValidationError([FieldError("status", "a drill's alert must not wait for approval")])
        alert_id = accepted.alert.id
        first = await self.acks.recipients(alert_id)
        districts = {i: registry[i].district.strip() for i in first if i in registry}
        await self.store.link_alert(drill_id, alert_id, accepted.alert.sent.timestamp(), districts)
        await self.audit.record(
            actor=sender.name,
            action="send_drill_alert",
            outcome="accepted",
            drill_id=drill_id,
            alert_id=alert_id,
        )
        return accepted

    async def _link_again(self, drill_id: str, alert_id: str, registry: Mapping[str, Official]) -> None:
        """The alert a retried request was sent as, linked to the drill if the first try stopped
        between sending it and linking it (a crash): the districts are the registry's of this moment."""
        if alert_id in dict(await self.store.alerts(drill_id)):
            return
        record = await self.alert_store.get_record(alert_id)
        if record is None:  # sent before but gone (expired): nothing to link
            return
        sent = parse_datetime(record["alert"]["sent"]).timestamp()
        first = await self.acks.recipients(alert_id)
        districts = {i: registry[i].district.strip() for i in first if i in registry}
        await self.store.link_alert(drill_id, alert_id, sent, districts)

    async def _recorded(self, drill_id: str) -> list[DrillAlert]:
        found = []
        for alert_id, sent in await self.store.alerts(drill_id):
            found.append(
                DrillAlert(
                    alert_id=alert_id,
                    sent_at=sent,
                    schools=await self.alert_store.schools(alert_id),
                    districts=await self.store.districts(alert_id),
                    deliveries=await self.alert_store.all_deliveries(alert_id),
                    acks=await self.acks.acks(alert_id),
                )
            )
        return found

    async def _report(self, drill: dict[str, Any], now: float, *, compare: bool = True) -> dict[str, Any]:
        previous = await self._previous(drill, now) if compare else None
        return drill_report(
            drill,
            await self._recorded(drill["id"]),
            now=now,
            previous=previous,
            improvements=await self.store.improvements(drill["id"]),
        )

    async def _previous(self, drill: dict[str, Any], now: float) -> dict[str, Any] | None:
        """The report of the latest drill of the same type whose window ended before this one began."""
        for other_id in reversed(await self.store.starting_between(0, float(drill["start"]))):
            other = await self.store.get(other_id)
            if other and other["type"] == drill["type"] and other["end"] <= drill["start"]:
                return await self._report(other, now, compare=False)
        return None

    async def report(self, sender: Sender, drill_id: str, *, now: float | None = None) -> dict[str, Any]:
        """The drill's report (provisional while its window is open). Raises NotPermitted, NotFound."""
        await self._require(sender, READERS, "read_drill_report", drill_id=drill_id)
        return await self._report(await self._drill(drill_id), time.time() if now is None else now)

    async def add_improvement(self, sender: Sender, drill_id: str, payload: object) -> dict[str, Any]:
        """Add a row to the drill's improvement plan (audited). Raises NotPermitted, NotFound,
        DrillValidationError."""
        await self._require(sender, PLANNERS, "edit_improvement_plan", drill_id=drill_id)
        await self._drill(drill_id)
        row = parse_improvement(payload, partial=False)
        stored = await self.store.add_improvement(drill_id, row)
        await self.audit.record(
            actor=sender.name, action="edit_improvement_plan", outcome="accepted", drill_id=drill_id,
            row=stored["n"], change="added", fields=row,
        )  # fmt: skip
        return stored

    async def change_improvement(
        self, sender: Sender, drill_id: str, n: str, payload: object
    ) -> dict[str, Any]:
        """Change fields of one row of the improvement plan (audited: before and after)."""
        await self._require(sender, PLANNERS, "edit_improvement_plan", drill_id=drill_id)
        await self._drill(drill_id)
        row = (
            await self.store.improvement(drill_id, int(n))
            if n.isascii() and n.isdigit() and len(n) < 9
            else None
        )
        if row is None:
            raise NotFound(f"improvement: no row '{n}' in the improvement plan of drill '{drill_id}'")
        changes = parse_improvement(payload, partial=True)
        before = {key: row.get(key) for key in changes}
        row.update(changes)
        await self.store.save_improvement(drill_id, row)
        await self.audit.record(
            actor=sender.name, action="edit_improvement_plan", outcome="accepted", drill_id=drill_id,
            row=row["n"], change="updated", before=before, after=changes,
        )  # fmt: skip
        return row

    async def participation(self, sender: Sender, year: object) -> dict[str, Any]:
        """The plan's figures for a school year. Raises NotPermitted, ValidationError (school_year)."""
        await self._require(sender, READERS, "read_participation")
        low, high = school_year(year, self.timezone)
        reached: list[SchoolKey] = []
        targeted: list[SchoolKey] = []
        for alert_id in await self.store.alert_ids_between(low, high):
            schools = await self.alert_store.schools(alert_id)
            targeted += schools.values()
            reached += [schools[i] for i in await self.acks.acked_ids(alert_id) if i in schools]
        drills: list[Iterable[SchoolKey]] = []
        for drill_id in await self.store.starting_between(low, high):
            drill = await self.store.get(drill_id)
            if drill is None:
                continue
            report = drill_report(drill, await self._recorded(drill_id), now=time.time())
            drills.append([(s["district"], s["school"]) for s in report["schools"] if s["participated"]])
        unsubscribed = await self.subscriptions.unsubscribed(MailingList.DIGEST)
        suppressed = await self.subscriptions.suppressed()
        registry = (await self.officials.snapshot()).active
        readers = frozenset(
            o.id for o in registry if digest_recipient(o, unsubscribed=unsubscribed, suppressed=suppressed)
        )
        return participation(
            str(year),
            reached=reached,
            targeted=targeted,
            drills=drills,
            registry=registry,
            digest_readers=readers,
        )
