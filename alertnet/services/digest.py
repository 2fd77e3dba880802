"""The weekly school safety update as its editors use it: items, approval by a second editor, previews,
test sends, and the scheduled send: each issue once, never stale, to each subscriber once.

What is due is worked out from the configured schedule and the issue records in Redis (the scheduler only
ticks `run_due`), so a restart forgets nothing. An issue is sent by one guarded transaction that writes
every edition's message, deliveries and jobs together with the issue's "sent" record, only while the
issue is still unsent and unchanged: two schedulers, or a second tick, cannot send it twice, and the
pipeline's per-delivery claims make a worker killed mid-batch resend nobody's copy (SendGrid's requests
in flight at a crash aside).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import structlog

from alertnet.content.digest import archive_index_html, digest_content, issue_page_html
from alertnet.domain.audience import unknown_selectors
from alertnet.domain.bulletins import BulletinState
from alertnet.domain.digest import (
    TEST_SENDS_PER_DAY,
    DigestItem,
    DigestValidationError,
    IssueRecord,
    IssueState,
    approval_problem,
    edited,
    editions,
    new_item,
    ordered,
    parse_item,
    parse_test_addresses,
)
from alertnet.domain.links import Links
from alertnet.domain.senders import Sender, SenderRole
from alertnet.domain.subscriptions import MailingList, make_list_token
from alertnet.services.digest_runs import EDITORS, DigestRuns, DueOutcome, Mailer, at_time, schedule_of
from alertnet.services.errors import Conflict, NotFound, NotPermitted
from alertnet.services.fanout import FanOut
from alertnet.settings import Settings
from alertnet.store.audit import AuditLog
from alertnet.store.bulletins import BulletinStore
from alertnet.store.digest import DigestStore, SubscriptionStore
from alertnet.store.registry import OfficialStore, SenderStore

log = structlog.get_logger("alertnet.digest")

READERS = EDITORS | {SenderRole.VIEWER}


class DigestService:
    def __init__(
        self,
        settings: Settings,
        *,
        store: DigestStore,
        subscriptions: SubscriptionStore,
        officials: OfficialStore,
        senders: SenderStore,
        fanout: FanOut,
        audit: AuditLog,
        links: Links,
        secret: bytes,
        mailer: Mailer,
        bulletins: BulletinStore,
    ) -> None:
        self.settings = settings
        self.schedule = schedule_of(settings)
        self.store = store
        self.subscriptions = subscriptions
        self.officials = officials
        self.senders = senders
        self.fanout = fanout
        self.audit = audit
        self.links = links
        self.secret = secret
        self.mailer = mailer
        self.bulletins = bulletins
        self.runs = DigestRuns(
            self.schedule, store, subscriptions, officials, senders, fanout, audit, links, mailer
        )

    # --- who may ----------------------------------------------------------------------------------

    async def _require(self, sender: Sender, roles: frozenset[SenderRole], action: str) -> None:
        if sender.role not in roles:
            await self.audit.record(actor=sender.name, action=action, outcome="forbidden")
            names = ", ".join(sorted(r.value for r in roles))
            raise NotPermitted(
                f"sender role '{sender.role.value}' may not {action.replace('_', ' ')}; {names} may"
            )

    async def check_editor(self, sender: Sender) -> None:
        """Raises NotPermitted (audited) unless the sender edits the weekly update (the console's editor)."""
        await self._require(sender, EDITORS, "edit_the_weekly_update")

    # --- items ------------------------------------------------------------------------------------

    async def add_item(self, sender: Sender, payload: object, *, now: float | None = None) -> DigestItem:
        """Add an item to the open issue (the next one whose cut-off has not passed). Raises
        NotPermitted or DigestValidationError (every bad field, nothing stored)."""
        await self._require(sender, EDITORS, "digest_item_add")
        now = time.time() if now is None else now
        fields = await self._validated(sender, payload, partial=False, action="digest_item_add")
        issue = await self._open_from(self.schedule.issue_for_item(at_time(now)))
        position = len(await self.store.items(issue))
        item = new_item(fields, issue=issue, position=position, actor=sender.name, now=now)
        await self.store.save_item(item, sender.name)
        await self.audit.record(
            actor=sender.name, action="digest_item_add", outcome="accepted", item=item.id, issue=issue
        )
        return item

    async def _validated(
        self, sender: Sender, payload: object, *, partial: bool, action: str
    ) -> dict[str, Any]:
        try:
            fields = parse_item(payload, partial=partial)
            if "audience" in fields and not fields["audience"].statewide:
                snapshot = await self.officials.snapshot()
                problems = unknown_selectors(fields["audience"], snapshot.by_id.values())
                if problems:
                    raise DigestValidationError(problems)
        except DigestValidationError as error:
            await self.audit.record(
                actor=sender.name,
                action=action,
                outcome="invalid",
                errors=[e.to_dict() for e in error.errors],
            )
            raise
        return fields

    async def list_items(self, sender: Sender, issue: int | None = None) -> tuple[int, list[DigestItem]]:
        await self._require(sender, READERS, "digest_items_read")
        number = (
            await self._open_from(self.schedule.issue_for_item(at_time(time.time())))
            if issue is None
            else issue
        )
        return number, ordered(await self.store.items(number))

    async def _editable(self, sender: Sender, item_id: str, action: str) -> DigestItem:
        await self._require(sender, EDITORS, action)
        item = await self.store.item(item_id)
        if item is None:
            raise NotFound(f"item: no item '{item_id}'")
        if item.bulletin:
            await self.audit.record(actor=sender.name, action=action, outcome="conflict", item=item_id)
            raise Conflict(
                f"item: it carries cyber bulletin {item.bulletin}; its publisher changes or retracts it "
                f"through /v1/bulletins/{item.bulletin}"
            )
        record = await self.store.issue(item.issue)
        if record.state not in (IssueState.OPEN, IssueState.HELD):  # a held issue may be fixed first
            await self.audit.record(actor=sender.name, action=action, outcome="conflict", item=item_id)
            raise Conflict(
                f"item: issue {item.issue} is {record.state.value}; its items can no longer change"
            )
        return item

    async def edit_item(
        self, sender: Sender, item_id: str, payload: object, *, now: float | None = None
    ) -> DigestItem:
        """Change some fields of an item; voids its issue's approval. Raises NotPermitted, NotFound,
        Conflict (its issue went out) or DigestValidationError."""
        item = await self._editable(sender, item_id, "digest_item_edit")
        fields = await self._validated(sender, payload, partial=True, action="digest_item_edit")
        changed = edited(item, fields, actor=sender.name, now=time.time() if now is None else now)
        await self.store.save_item(changed, sender.name)
        await self.audit.record(
            actor=sender.name,
            action="digest_item_edit",
            outcome="accepted",
            item=item.id,
            issue=item.issue,
            fields=sorted(fields),
        )
        return changed

    async def withdraw_item(self, sender: Sender, item_id: str) -> DigestItem:
        item = await self._editable(sender, item_id, "digest_item_withdraw")
        await self.store.withdraw_item(item, sender.name)
        await self.audit.record(
            actor=sender.name,
            action="digest_item_withdraw",
            outcome="accepted",
            item=item.id,
            issue=item.issue,
        )
        return item

    # --- the next issue -------------------------------------------------------------------------------

    async def _open_from(self, n: int) -> int:
        """The first issue from `n` on that has not gone out (or been held, skipped or found empty)."""
        while (await self.store.issue(n)).state is not IssueState.OPEN:
            n += 1
        return n

    async def open_issue(self, now: float) -> int:
        """The issue an item added now goes into: the first open one from the clock's."""
        return await self._open_from(self.schedule.issue_for_item(at_time(now)))

    async def next_number(self, now: float | None = None) -> int:
        """The next issue to go out: the first still open from the one the clock says comes next."""
        return await self._open_from(self.schedule.next_issue(at_time(time.time() if now is None else now)))

    async def issue_view(
        self, sender: Sender, number: int | None = None, *, now: float | None = None
    ) -> dict[str, Any]:
        await self._require(sender, READERS, "digest_issue_read")
        n = await self.next_number(now) if number is None else number
        record = await self.store.issue(n)
        items = (
            ordered(await self.store.items(n))
            if record.state is not IssueState.SENT
            else await self.store.snapshot(n)
        )
        return {
            "number": n,
            "send_time": self.schedule.send_time(n).isoformat(),
            "cutoff": self.schedule.cutoff(n).isoformat(),
            "state": record.state.value,
            "reason": record.reason,
            "version": record.version,
            "last_changed_by": record.changed_by,
            "approved": record.approved,
            "approved_by": record.approved_by if record.approved else "",
            "items": [i.public_dict() for i in items],
            "sent_at": record.sent_at or None,
            "recipients": record.recipients,
            "links": {"archive": self.links.digest_issue(n)} if record.state is IssueState.SENT else {},
        }

    async def preview(self, sender: Sender, official_id: str, *, now: float | None = None) -> dict[str, Any]:
        """Exactly the email `official_id` would get from the next issue (their own unsubscribe link)."""
        await self._require(sender, READERS, "digest_preview")
        n = await self.next_number(now)
        snapshot = await self.officials.snapshot()
        official = snapshot.by_id.get(official_id)
        if official is None:
            raise NotFound(f"official: no official '{official_id}'")
        items = ordered(await self.store.items(n))
        groups = editions(items, [official], unsubscribed=frozenset(), suppressed=frozenset())
        chosen = [i for i in items if groups and i.id in groups[0].item_ids]
        link = self.links.unsubscribe(make_list_token(self.secret, MailingList.DIGEST, official.id))
        email = digest_content(
            n,
            self.schedule.send_time(n),
            chosen,
            archive_link=self.links.digest_issue(n),
            unsubscribe_link=link,
        ).email
        assert email is not None
        would_receive = official.id in {
            i
            for e in editions(
                items,
                [official],
                unsubscribed=await self.subscriptions.unsubscribed(MailingList.DIGEST),
                suppressed=await self.subscriptions.suppressed(),
                cyber_left=await self.subscriptions.unsubscribed(MailingList.CYBER),
            )
            for i in e.official_ids
        }
        return {
            "issue": n,
            "official": official.id,
            "would_receive": would_receive,
            "items": [i.id for i in chosen],
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
        }

    async def approve(
        self, sender: Sender, number: int | None = None, *, now: float | None = None
    ) -> IssueRecord:
        """Approve the next issue as it is now. Raises NotPermitted, or Conflict: the approver made the
        last change, there is nothing to approve, or it changed while being approved."""
        await self._require(sender, EDITORS, "digest_approve")
        n = await self.next_number(now) if number is None else number
        record = await self.store.issue(n)
        problem = approval_problem(record, sender.name, await self.store.items(n))
        if problem is None and not await self.store.approve(n, record.version, sender.name):
            problem = f"issue {n} changed while it was being approved; look at it again"
        if problem is not None:
            await self.audit.record(
                actor=sender.name, action="digest_approve", outcome="conflict", issue=n, reason=problem
            )
            raise Conflict(problem)
        await self.audit.record(
            actor=sender.name, action="digest_approve", outcome="accepted", issue=n, version=record.version
        )
        return await self.store.issue(n)

    async def test_send(self, sender: Sender, payload: object, *, now: float | None = None) -> dict[str, Any]:
        """Send the next issue, marked [TEST], to at most 5 addresses (20 a day per sender). Nobody is
        recorded as having received it. Raises NotPermitted, DigestValidationError or Conflict."""
        await self._require(sender, EDITORS, "digest_test_send")
        now = time.time() if now is None else now
        try:
            addresses = parse_test_addresses(payload)
        except DigestValidationError as error:
            await self.audit.record(
                actor=sender.name,
                action="digest_test_send",
                outcome="invalid",
                errors=[e.to_dict() for e in error.errors],
            )
            raise
        n = await self.next_number(now)
        items = ordered(await self.store.items(n))
        if not items:
            raise Conflict(f"issue {n} has no items yet")
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        count = await self.store.count_test_send(sender.name, day, len(addresses))
        if count > TEST_SENDS_PER_DAY:
            await self.store.uncount_test_send(sender.name, day, len(addresses))
            await self.audit.record(actor=sender.name, action="digest_test_send", outcome="limited", issue=n)
            raise Conflict(
                f"to: at most {TEST_SENDS_PER_DAY} test emails a day per sender; "
                f"{count - len(addresses)} sent today"
            )
        email = digest_content(
            n,
            self.schedule.send_time(n),
            items,
            archive_link=self.links.digest_issue(n),
            unsubscribe_link="",
            test=True,
        ).email
        assert email is not None
        accepted = await self.mailer(email.subject, email.html, email.text, addresses)
        await self.audit.record(
            actor=sender.name,
            action="digest_test_send",
            outcome="accepted" if accepted else "provider_refused",
            issue=n,
            addresses=len(addresses),
        )
        if not accepted:
            await self.store.uncount_test_send(sender.name, day, len(addresses))
            raise Conflict("to: the email provider did not accept the test send; try again")
        return {"issue": n, "sent_to": addresses, "subject": email.subject, "today": count}

    # --- the schedule (alertnet.services.digest_runs) -----------------------------------------------

    async def run_due(self, now: float | None = None) -> list[DueOutcome]:
        """Deal with every issue whose send time has come (see `DigestRuns.run_due`)."""
        return await self.runs.run_due(now)

    async def release(self, sender: Sender, n: int, *, now: float | None = None) -> DueOutcome:
        await self._require(sender, EDITORS, "digest_release")
        return await self.runs.release(sender, n, now=now)

    async def skip(self, sender: Sender, n: int) -> IssueRecord:
        await self._require(sender, EDITORS, "digest_skip")
        return await self.runs.skip(sender, n)

    # --- the public archive ---------------------------------------------------------------------------

    async def archive_index(self) -> str:
        listed = [
            (n, self.schedule.send_time(n), self.links.digest_issue(n))
            for n, _ in await self.store.sent_issues()
        ]
        return archive_index_html(listed)

    async def archive_page(self, n: int) -> str:
        record = await self.store.issue(n)
        if record.state is not IssueState.SENT:
            raise NotFound(f"issue: no sent issue {n}")
        items = [i for i in await self.store.snapshot(n) if await self._public(i)]
        return issue_page_html(
            n, self.schedule.send_time(n), items, index_link=f"{self.links.base_url}/digest/"
        )

    async def _public(self, item: DigestItem) -> bool:
        """Whether an item of a sent issue may be on the public page: a cyber bulletin only while it is
        TLP:CLEAR (as it is now: a label made stricter since, or a retraction, takes it off)."""
        if not item.bulletin:
            return True
        bulletin = await self.bulletins.get(item.bulletin)
        return bulletin is not None and bulletin.tlp.public and bulletin.state is not BulletinState.RETRACTED

    # --- email problems ----------------------------------------------------------------------------------

    async def email_problems(self, sender: Sender) -> list[dict[str, object]]:
        await self._require(
            sender, frozenset({SenderRole.DIRECTOR, SenderRole.VIEWER}), "email_problems_read"
        )
        return await self.subscriptions.problems()
