"""Schools of an alert: which it targeted, which of them answered (one official's ack reaches a school),
and the send-time parts that make that possible (each recipient's school, recorded with the alert; calls
ordered by role)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from alertnet.domain.messages import Channel
from alertnet.domain.polls import PollAnswer
from alertnet.domain.schools import order_calls, school_map, school_rows, school_rows_json
from alertnet.domain.senders import AUDIT_READERS, Sender, may_read_audit
from alertnet.services.errors import MayNotRead, NotFound
from alertnet.services.school_view import SchoolViews, ViewRead
from alertnet.settings import Settings
from alertnet.store.acks import AckStore
from alertnet.store.alerts import AlertStore
from alertnet.store.audit import AuditLog
from alertnet.store.polls import PollStore
from alertnet.store.registry import OfficialStore
from alertnet.store.school_cache import SchoolViewReads


async def sending_extras(
    officials: OfficialStore, recipients: Mapping[Channel, Sequence[str]], settings: Settings
) -> tuple[dict[Channel, list[str]], dict[str, str]]:
    """An alert's recipients with its calls in `call_order`, and official id -> encoded school of those
    who belong to a school (stored with the alert, so later registry edits do not change its schools)."""
    registry = (await officials.snapshot()).by_id
    ordered = {
        channel: order_calls(ids, registry, settings.pipeline.call_order)
        if channel is Channel.VOICE
        else list(ids)
        for channel, ids in recipients.items()
    }
    everyone = dict.fromkeys(i for ids in recipients.values() for i in ids)
    return ordered, school_map(registry[i] for i in everyone if i in registry)


class SchoolService:
    def __init__(
        self,
        *,
        alerts: AlertStore,
        acks: AckStore,
        officials: OfficialStore,
        audit: AuditLog,
        polls: PollStore | None = None,
    ) -> None:
        self.polls = polls  # answers to the alert's status check, merged into each school's row
        self.alerts = alerts
        self.acks = acks
        self.officials = officials
        self.audit = audit
        self._views = SchoolViews(SchoolViewReads(acks.redis), officials)

    async def _states(self, alert_id: str) -> ViewRead:
        """Every targeted school's state and the names of those who acknowledged, with every ack recorded
        before the call; kept up to date in this process (`SchoolViews`), shared: do not change them."""
        return await self._views.states(alert_id)

    async def counts(self, alert_id: str) -> dict[str, int]:
        """{targeted, reached, not_reached}: the alert's schools (0s for an alert to no school)."""
        return (await self._states(alert_id)).counts()

    async def schools(self, sender: Sender, alert_id: str) -> dict[str, Any]:
        """Every school the alert targeted with its state and who acknowledged for it, not reached first;
        with a poll, each school's latest answer and who answered what, urgent answers first.

        Raises MayNotRead for roles other than director and viewer (audited), NotFound."""
        read, answers = await self._read(sender, alert_id)
        return {"id": alert_id, **read.counts(), "schools": school_rows(read.states, read.names, answers)}

    async def schools_json(self, sender: Sender, alert_id: str) -> str:
        """`schools` as JSON text, built from each school's row text as this process keeps it (a
        statewide view has ~14,000 rows of which a few change between two reads). Raises as `schools`."""
        read, answers = await self._read(sender, alert_id)
        head = json.dumps({"id": alert_id, **read.counts()})
        return head[:-1] + ', "schools": ' + school_rows_json(read.states, read.names, answers) + "}"

    async def _read(self, sender: Sender, alert_id: str) -> tuple[ViewRead, list[PollAnswer]]:
        if not may_read_audit(sender.role):
            await self.audit.record(
                actor=sender.name, action="read_schools", outcome="forbidden", alert_id=alert_id
            )
            readers = ", ".join(sorted(r.value for r in AUDIT_READERS))
            raise MayNotRead(
                f"sender role '{sender.role.value}' may not read an alert's schools; roles that may: "
                f"{readers}"
            )
        if await self.alerts.get_record(alert_id) is None:
            raise NotFound(alert_id)
        read = await self._states(alert_id)
        answers = [] if self.polls is None else list((await self.polls.latest(alert_id)).values())
        return read, answers
