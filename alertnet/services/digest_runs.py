"""The weekly update's send: each issue once, on schedule, never stale, to each subscriber once.

What is due is worked out from the configured schedule and the issue records in Redis (the scheduler only
ticks `run_due`), so a restart forgets nothing. An issue is sent by one guarded transaction that writes
every edition's message, deliveries and jobs together with the issue's "sent" record, only while the
issue is still in the state and at the version that was read: two schedulers, or a second tick, cannot
send it twice, and the pipeline's per-delivery claims make a worker killed mid-batch resend nobody's copy
(SendGrid's requests in flight at a crash aside).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

import structlog
from ulid import ULID

from alertnet.content.digest import digest_content
from alertnet.domain.digest import (
    DigestItem,
    HoldReason,
    IssueRecord,
    IssueState,
    editions,
    ordered,
)
from alertnet.domain.digest_schedule import DigestSchedule
from alertnet.domain.links import Links
from alertnet.domain.messages import Channel, Message, MessageKind, Priority
from alertnet.domain.senders import Sender, SenderRole
from alertnet.domain.subscriptions import MailingList
from alertnet.services.errors import Conflict
from alertnet.services.fanout import FanOut
from alertnet.settings import Settings
from alertnet.store.audit import AuditLog
from alertnet.store.bulletins import stage_sent_in_digest
from alertnet.store.digest import DigestStore, SubscriptionStore, issue_key, stage_sent
from alertnet.store.registry import OfficialStore, SenderStore

log = structlog.get_logger("alertnet.digest")

EDITORS = frozenset({SenderRole.EDITOR, SenderRole.DIRECTOR})
LOOK_BACK_ISSUES = 8  # after a long outage, the schedule looks this many missed issues back, no more

Mailer = Callable[[str, str, str, list[str]], Awaitable[bool]]
"""Sends one email (subject, html, text) to a few addresses outside the pipeline (test sends, notices to
editors); returns whether the provider accepted it."""


def schedule_of(settings: Settings) -> DigestSchedule:
    d = settings.digest
    return DigestSchedule.of(
        timezone=d.timezone,
        send_day=d.send_day,
        send_time=d.send_time,
        cutoff_day=d.cutoff_day,
        cutoff_time=d.cutoff_time,
        first_date=d.first_date,
        max_lateness_hours=d.max_lateness_hours,
    )


def at_time(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


@dataclass(frozen=True)
class DueOutcome:
    """What the schedule did with one issue."""

    issue: int
    state: str
    detail: str = ""
    recipients: int = 0
    editions: int = 0


@dataclass
class DigestRuns:
    """Sending issues: when due, on release, or not at all (held, skipped, empty)."""

    schedule: DigestSchedule
    store: DigestStore
    subscriptions: SubscriptionStore
    officials: OfficialStore
    senders: SenderStore
    fanout: FanOut
    audit: AuditLog
    links: Links
    mailer: Mailer

    async def run_due(self, now: float | None = None) -> list[DueOutcome]:
        """Deal with every issue whose send time has come and that nothing has dealt with yet: send it
        (approved, on time), hold it (unapproved, or later than max_lateness), or note it was empty."""
        now = time.time() if now is None else now
        latest = self.schedule.latest_due(at_time(now))
        if latest < 1:
            return []
        last = await self.store.last_dealt_with()
        first = latest if last is None else max(last + 1, latest - LOOK_BACK_ISSUES + 1)
        outcomes = []
        for n in range(first, latest + 1):
            outcome = await self._deal_with(n, now)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    async def _deal_with(self, n: int, now: float) -> DueOutcome | None:
        record = await self.store.issue(n)
        if record.state is not IssueState.OPEN:
            return None
        items = ordered(await self.store.items(n))
        late = now - self.schedule.send_time(n).timestamp()
        if not items:
            if await self.store.set_state(n, IssueState.OPEN, IssueState.EMPTY, "no items"):
                await self.audit.record(actor="scheduler", action="digest_empty", outcome="not_sent", issue=n)
                return DueOutcome(n, IssueState.EMPTY.value, "no items: nothing sent")
            return None
        if not record.approved:
            return await self._hold(n, HoldReason.UNAPPROVED, f"issue {n} was not approved by its send time")
        if late > self.schedule.max_lateness:
            hours = late / 3600
            return await self._hold(
                n,
                HoldReason.STALE,
                f"issue {n} is {hours:.1f} h late (more than {self.schedule.max_lateness / 3600:g} h)",
            )
        return await self._send(n, record, items, expected=IssueState.OPEN, actor="scheduler", now=now)

    async def _hold(self, n: int, reason: HoldReason, detail: str) -> DueOutcome | None:
        if not await self.store.set_state(n, IssueState.OPEN, IssueState.HELD, reason.value):
            return None
        await self.audit.record(
            actor="scheduler", action="digest_hold", outcome=reason.value, issue=n, detail=detail
        )
        await self._tell_editors(
            f"Weekly update issue {n} is held: {reason.value}",
            f"{detail}. An editor may approve it and release it "
            f"(POST /v1/digest/issues/{n}/release) or skip it (POST /v1/digest/issues/{n}/skip).",
        )
        return DueOutcome(n, IssueState.HELD.value, detail)

    async def _tell_editors(self, subject: str, text: str) -> None:
        addresses = [s.email for s in await self.senders.all() if s.active and s.role in EDITORS and s.email]
        if not addresses:
            log.warning("digest_no_editor_email", subject=subject)
            return
        html = f"<p>{escape(text)}</p>"
        for start in range(0, len(addresses), 5):
            if not await self.mailer(subject, html, text, addresses[start : start + 5]):
                log.warning("digest_editor_notice_refused", subject=subject)

    async def _send(
        self,
        n: int,
        record: IssueRecord,
        items: Sequence[DigestItem],
        *,
        expected: IssueState,
        actor: str,
        now: float,
    ) -> DueOutcome | None:
        snapshot = await self.officials.snapshot()
        groups = editions(
            items,
            snapshot.by_id.values(),
            unsubscribed=await self.subscriptions.unsubscribed(MailingList.DIGEST),
            suppressed=await self.subscriptions.suppressed(),
            cyber_left=await self.subscriptions.unsubscribed(MailingList.CYBER),
        )
        send_time = self.schedule.send_time(n)
        by_id = {i.id: i for i in items}
        messages: list[tuple[Message, dict[Channel, list[str]]]] = []
        for edition in groups:
            content = digest_content(
                n, send_time, [by_id[i] for i in edition.item_ids], archive_link=self.links.digest_issue(n)
            )
            message = Message(
                id=str(ULID()),
                kind=MessageKind.DIGEST,
                priority=Priority.BULK,
                acknowledgeable=False,
                escalatable=False,
                content=content,
                created=now,
                expires=now + 7 * 86400,
                mailing_list=MailingList.DIGEST.value,
            )
            messages.append((message, {Channel.EMAIL: edition.official_ids}))
        recipients = sum(len(e.official_ids) for e in groups)
        ids = [m.id for m, _ in messages]

        carried: dict[str, list[str]] = {}  # cyber bulletin -> the officials whose edition carries it
        for edition in groups:
            for item_id in edition.item_ids:
                if by_id[item_id].bulletin:
                    carried.setdefault(by_id[item_id].bulletin, []).extend(edition.official_ids)

        def sent(pipe: Any) -> None:
            stage_sent(pipe, n, items=items, recipients=recipients, message_ids=ids, now=now)
            for bulletin_id, official_ids in carried.items():
                stage_sent_in_digest(pipe, bulletin_id, official_ids, n)

        # Written only while the issue is in the state we saw and at the version whose items we read.
        state = "" if expected is IssueState.OPEN else expected.value
        guard = (issue_key(n), {"state": state, "version": str(record.version) if record.version else ""})
        if not await self.fanout.send_once(messages, guard=guard, also=[sent]):
            return None
        await self.audit.record(
            actor=actor,
            action="digest_send",
            outcome="accepted",
            issue=n,
            version=record.version,
            recipients=recipients,
            editions=len(groups),
            messages=ids,
        )
        log.info("digest_sent", issue=n, recipients=recipients, editions=len(groups))
        return DueOutcome(n, IssueState.SENT.value, "", recipients, len(groups))

    async def release(self, sender: Sender, n: int, *, now: float | None = None) -> DueOutcome:
        """Send a held issue now (it must be approved as it stands). Raises NotPermitted or Conflict."""
        now = time.time() if now is None else now
        record = await self.store.issue(n)
        items = ordered(await self.store.items(n))
        problem = None
        if record.state is not IssueState.HELD:
            problem = f"issue {n} is {record.state.value}, not held"
        elif not items:
            problem = f"issue {n} has no items"
        elif not record.approved:
            problem = f"issue {n} is not approved as it stands: approve it first"
        outcome = None
        if problem is None:
            outcome = await self._send(n, record, items, expected=IssueState.HELD, actor=sender.name, now=now)
            if outcome is None:
                problem = f"issue {n} changed or was dealt with meanwhile"
        if problem is not None or outcome is None:
            await self.audit.record(
                actor=sender.name, action="digest_release", outcome="conflict", issue=n, reason=problem
            )
            raise Conflict(problem or "")
        await self.audit.record(actor=sender.name, action="digest_release", outcome="accepted", issue=n)
        return outcome

    async def skip(self, sender: Sender, n: int) -> IssueRecord:
        if not await self.store.set_state(
            n, IssueState.HELD, IssueState.SKIPPED, f"skipped by {sender.name}"
        ):
            record = await self.store.issue(n)
            await self.audit.record(actor=sender.name, action="digest_skip", outcome="conflict", issue=n)
            raise Conflict(f"issue {n} is {record.state.value}, not held")
        await self.audit.record(actor=sender.name, action="digest_skip", outcome="accepted", issue=n)
        return await self.store.issue(n)
