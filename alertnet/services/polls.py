"""Answers to status checks (polls) as officials give them: a bare digit by SMS, a key during the call, a
pick on the email's link page. Each answer is kept (`alertnet.store.polls`), acknowledges the alert, and an
urgent one ("need help") is audited and notified at once to the alert's sender and the superintendent(s)
of the answering official's district, once per (alert, official, answer)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from alertnet.domain.acks import AckChannel
from alertnet.domain.contacts import Official, Role
from alertnet.domain.deliveries import split_delivery_id
from alertnet.domain.polls import (
    Poll,
    PollAnswer,
    answer_digit,
    answer_reply,
    keypress_said,
    unknown_answer_reply,
    urgent_notice_request,
)
from alertnet.domain.schools import school_of
from alertnet.domain.senders import Sender, SenderRole, may_read_audit
from alertnet.services.acks import AckRefused, AckService
from alertnet.services.errors import MayNotRead, NotFound
from alertnet.store.alerts import AlertStore
from alertnet.store.audit import AuditLog
from alertnet.store.polls import PollStore
from alertnet.store.registry import OfficialStore, SenderStore

log = structlog.get_logger("alertnet.polls")
NOTIFIER = Sender(name="alertnet-polls", role=SenderRole.DIRECTOR, created="")
# An urgent answer's notice still not sent this long after the answer is given up (audited).
NOTICE_GIVE_UP_SECONDS = 3600.0
# Sends the notice (a small alert) once per idempotency key: `IdempotentAlerts.submit`.
SendNotice = Callable[[Sender, dict[str, Any], str], Awaitable[object]]


def notice_key(alert_id: str, official_id: str, number: int) -> str:
    """The idempotency key of an urgent answer's notice: a sender that paged and then died (or stalled
    past its claim) before marking the notice sent leaves it owed, and the sweep's try finds the page
    it was sent as instead of paging again."""
    official = hashlib.sha256(official_id.encode()).hexdigest()[:24]
    return f"poll-notice-{alert_id}-{number}-{official}"


class NotAnAnswer(Exception):
    """The number is not one of the poll's answers (or the alert asks nothing); the reason says so."""


@dataclass(frozen=True)
class Answered:
    answer: PollAnswer
    first_ack: bool
    event: str
    code: str


class PollService:
    def __init__(
        self,
        *,
        acks: AckService,
        alerts: AlertStore,
        polls: PollStore,
        officials: OfficialStore,
        senders: SenderStore,
        audit: AuditLog,
        send_notice: SendNotice,
        console_url: str,
        notice_retry: float = 60.0,
    ) -> None:
        self.acks = acks
        self.alerts = alerts
        self.polls = polls
        self.officials = officials
        self.senders = senders
        self.audit = audit
        self.send_notice = send_notice  # the notice is a small alert, sent once per answer
        self.console_url = console_url
        # A notice not confirmed sent this long after its answer is sent by the scheduler's sweep.
        self.notice_retry = notice_retry

    async def answer(
        self,
        alert_id: str,
        record: dict[str, Any],
        official_id: str,
        number: int,
        channel: AckChannel,
        *,
        handled: str | None = None,
    ) -> Answered:
        """Record answer `number` of an official the alert (`record`) reached, and the ack it is. Raises
        NotAnAnswer. `handled`: the provider request's marker, set done with the ack."""
        alert = record["alert"]
        poll = Poll.from_dict(alert["poll"]) if alert.get("poll") else None
        option = None if poll is None else poll.option(number)
        if poll is None or option is None:
            raise NotAnAnswer(f"answer: {number} is not one of the answers of alert '{alert_id}'")
        school = (await self.alerts.schools_of(alert_id, [official_id])).get(official_id)
        official = (await self.officials.snapshot()).by_id.get(official_id)
        answer = PollAnswer(
            alert_id=alert_id,
            official_id=official_id,
            number=number,
            text=option.text,
            urgent=option.urgent,
            at=time.time(),
            channel=channel.value,
            school=school or school_of(official),
        )
        await self.polls.record(answer, handled=handled)  # kept already by a retried request: not again
        acked = await self.acks.record_reached(alert_id, record, official_id, channel, handled=handled)
        log.info(
            "poll_answered", alert_id=alert_id, official_id=official_id, answer=number, urgent=option.urgent
        )
        if option.urgent and official is not None:
            await self._notify_urgent(alert, answer, official)
        return Answered(answer, acked.first, acked.event, acked.code)

    async def _notify_urgent(self, alert: dict[str, Any], answer: PollAnswer, official: Official) -> None:
        """Audit the urgent answer and page the alert's sender and the district's superintendent(s), once
        per (alert, official, answer): a replayed or repeated answer pages nobody again. The notice was
        owed from the moment the answer was kept (`PollStore.record`): if this process dies before the
        notice is accepted, or sending it fails, the scheduler's sweep sends it (`send_due_notices`)."""
        alert_id, number = answer.alert_id, answer.number
        if not await self.polls.claim_notice(alert_id, official.id, number, lease=self.notice_retry):
            return
        sender = await self.senders.get(str(alert.get("sender", "")))
        registry = (await self.officials.snapshot()).by_id
        district = official.district.strip().casefold()
        superintendents = sorted(
            o.id
            for o in registry.values()
            if district
            and o.active
            and o.role is Role.SUPERINTENDENT
            and o.district.strip().casefold() == district
        )
        whom = [i for i in [*superintendents, sender.official if sender else ""] if i and i != official.id]
        whom = [i for i in dict.fromkeys(whom) if i in registry and registry[i].active]
        detail: dict[str, Any] = {
            "alert_id": alert_id,
            "official_id": official.id,
            "answer": number,
            "text": answer.text,
            "notified": whom,
        }
        if not whom:
            await self.polls.notice_sent(alert_id, official.id, number)
            await self.audit.record(actor=official.id, action="poll_urgent", outcome="nobody", **detail)
            return
        request = urgent_notice_request(alert, answer, official, whom, self.console_url)
        try:
            accepted = await self.send_notice(NOTIFIER, request, notice_key(alert_id, official.id, number))
        except Exception as error:  # the answer stands; the notice is still due (the sweep tries again)
            await self.polls.release_notice(alert_id, official.id, number)
            log.exception("poll_urgent_notice_failed", alert_id=alert_id, official_id=official.id)
            await self.audit.record(
                actor=official.id, action="poll_urgent", outcome="failed", reason=str(error)[:200], **detail
            )
            return
        await self.polls.notice_sent(alert_id, official.id, number)
        before = getattr(accepted, "alert_id", "")  # SentBefore: paged already, nobody paged again
        notice = before or getattr(getattr(accepted, "alert", None), "id", "")
        await self.audit.record(
            actor=official.id,
            action="poll_urgent",
            outcome="sent_before" if before else "accepted",
            notice_alert=notice,
            **detail,
        )

    async def send_due_notices(self, now: float | None = None) -> int:
        """Send the urgent answers' notices still owed `notice_retry` seconds after the answer (the
        process that took the answer died first, or sending failed); run by the scheduler. Returns how
        many were looked at."""
        now = time.time() if now is None else now
        due = await self.polls.notices_due(now - self.notice_retry)
        for alert_id, official_id, number, answered_at in due:
            record = await self.alerts.get_record(alert_id)
            official = (await self.officials.snapshot()).by_id.get(official_id)
            given = [a for a in await self.polls.history(alert_id) if a.official_id == official_id]
            answer = next((a for a in given if a.number == number and a.urgent), None)
            if record is None or official is None or answer is None:
                await self.polls.drop_notice(alert_id, official_id, number)  # nothing left to say
            elif now - answered_at > NOTICE_GIVE_UP_SECONDS:
                await self.polls.drop_notice(alert_id, official_id, number)
                log.warning("poll_urgent_notice_given_up", alert_id=alert_id, official_id=official_id)
                await self.audit.record(
                    actor=official_id, action="poll_urgent", outcome="given_up", alert_id=alert_id,
                    official_id=official_id, answer=number,
                )  # fmt: skip
            else:
                await self._notify_urgent(record["alert"], answer, official)
        return len(due)

    async def sms_reply(self, from_number: str, body: str, *, handled: str | None = None) -> str:
        """An inbound SMS: a bare digit answers the newest open poll that reached the sender's number
        (even one answered already); anything else, or a digit with no open poll, is an acknowledgement
        or other reply as before (`AckService.sms_reply`)."""
        number = answer_digit(body)
        officials: list[str] | None = None
        if number is not None:
            officials = (await self.officials.snapshot()).active_by_mobile.get(from_number, [])
            found = await self.polls.newest_open_poll(officials)
            if found is not None:
                alert_id, official_id, record = found
                try:
                    done = await self.answer(
                        alert_id, record, official_id, number, AckChannel.SMS, handled=handled
                    )
                except NotAnAnswer:
                    return unknown_answer_reply(
                        record["alert"]["event"], Poll.from_dict(record["alert"]["poll"])
                    )
                option = Poll.from_dict(record["alert"]["poll"]).option(number)
                assert option is not None
                return answer_reply(done.event, number, option, done.code)
        return await self.acks.sms_reply(from_number, body, handled=handled, senders=officials)

    async def keypress(self, did: str, digits: str) -> str | None:
        """A key pressed during the call of an alert that asks a question: what the call says next. None
        for an alert without a poll (the caller acknowledges as before). Raises AckRefused, ValueError."""
        alert_id, _slot, official_id = split_delivery_id(did)
        record = await self.alerts.get_record(alert_id)
        if record is None or not record["alert"].get("poll"):
            return None
        if not await self.acks.acks.was_contacted(alert_id, official_id):
            raise AckRefused(f"official_id: '{official_id}' was not sent this alert")
        digit = digits.strip()
        poll = Poll.from_dict(record["alert"]["poll"])
        if len(digit) != 1 or not digit.isdigit() or poll.option(int(digit)) is None:
            return keypress_said(None)
        await self.answer(alert_id, record, official_id, int(digit), AckChannel.VOICE)
        return keypress_said(poll.option(int(digit)))

    async def link_answer(self, alert_id: str, official_id: str, choice: str) -> PollAnswer:
        """The answer picked on the email's link page (its POST). Raises AckRefused (the alert is gone or
        did not reach the official) or NotAnAnswer."""
        record = await self.alerts.get_record(alert_id)
        if record is None:
            raise AckRefused(f"alert_id: no alert with id '{alert_id}'")
        if not await self.acks.acks.was_contacted(alert_id, official_id):
            raise AckRefused(f"official_id: '{official_id}' was not sent this alert")
        if not choice.isdigit() or len(choice) != 1:
            raise NotAnAnswer(f"answer: must be the number of an answer; got {choice[:20]!r}")
        return (await self.answer(alert_id, record, official_id, int(choice), AckChannel.EMAIL)).answer

    async def current(self, alert_id: str, official_id: str) -> PollAnswer | None:
        """The official's latest answer to the alert's poll."""
        return await self.polls.latest_of(alert_id, official_id)

    async def answers(self, sender: Sender, alert_id: str) -> dict[str, Any]:
        """The alert's poll, how many officials' latest answer is each answer, each official's latest
        answer (newest first) and every answer given (oldest first). Raises MayNotRead for roles other
        than director and viewer (audited), NotFound."""
        if not may_read_audit(sender.role):
            await self.audit.record(
                actor=sender.name, action="read_answers", outcome="forbidden", alert_id=alert_id
            )
            raise MayNotRead(f"sender role '{sender.role.value}' may not read an alert's answers")
        record = await self.alerts.get_record(alert_id)
        if record is None:
            raise NotFound(alert_id)
        poll = record["alert"].get("poll")
        latest = sorted((await self.polls.latest(alert_id)).values(), key=lambda a: -a.at)
        history = await self.polls.history(alert_id)
        registry = (await self.officials.snapshot()).by_id

        def name(official_id: str) -> str:
            found = registry.get(official_id)
            return found.name if found else ""

        counts = {str(n): 0 for n in range(1, len(poll["answers"]) + 1)} if poll else {}
        for answer in latest:
            counts[str(answer.number)] = counts.get(str(answer.number), 0) + 1
        return {
            "id": alert_id,
            "poll": poll,
            "counts": counts,
            "latest": [a.view(name(a.official_id)) for a in latest],
            "history": [a.view(name(a.official_id)) for a in history],
        }
