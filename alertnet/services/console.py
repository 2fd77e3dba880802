"""The operator console's use cases: drafts whose status is fixed first, the live recipient count and
coverage gap, the review of exactly what each channel carries, and the send (typed confirmation for an
Actual alert; a draft is sent at most once). Sending goes through `AlertService`, as the API does."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from alertnet.content.alerts import email_bodies, email_subject, sms_text, voice_script
from alertnet.content.reports import report_csv
from alertnet.domain.after_action import AfterAction, after_action
from alertnet.domain.alert_request import AlertValidationError, FieldParser, parse_alert_request
from alertnet.domain.alert_templates import AlertTemplate
from alertnet.domain.alerts import Status, new_alert, parse_datetime
from alertnet.domain.audience import resolve_audience, unknown_selectors
from alertnet.domain.console import (
    Coverage,
    Draft,
    alert_request,
    audience_of,
    confirmed,
    coverage,
    escalation_view,
    mask_number,
    new_draft_id,
    update_fields,
)
from alertnet.domain.contacts import Official
from alertnet.domain.errors import FieldError
from alertnet.domain.followups import cancel_in_error_request
from alertnet.domain.links import Links
from alertnet.domain.messages import Channel
from alertnet.domain.senders import Sender, SenderRole, SendKind, may_send
from alertnet.domain.sms import sms_segments
from alertnet.services.acks import AckService
from alertnet.services.alerts import AlertService
from alertnet.services.errors import Conflict, NotFound, NotPermitted
from alertnet.services.once import IdempotentAlerts, SentBefore
from alertnet.store.audit import AuditLog
from alertnet.store.console import DraftStore
from alertnet.store.digest import SubscriptionStore
from alertnet.store.registry import OfficialStore

WATCHERS = frozenset({SenderRole.DIRECTOR, SenderRole.VIEWER})
CORRECTIONS_LOOKED_AT = 200  # the newest alerts searched for updates and cancellations of this one
NOT_YET_SHOWN = 100  # the live view lists this many who have not acknowledged (the CSV has everyone)
REPLIES_LOOKED_AT = 200  # the newest inbound SMS a live view looks through for replies to this alert
REPLIES_SHOWN = 20
LIVE_FRESH_SECONDS = 0.9  # live views poll every second: one read serves every view of an alert
LIVE_CACHED_ALERTS = 64
PREVIEW_CODE = "XXX-XXX"  # as long as a real verification code, so the segment count is exact


def sent_at(record: dict[str, Any]) -> float:
    return parse_datetime(record["alert"]["sent"]).timestamp()


class ConsoleService:
    def __init__(
        self,
        *,
        templates: list[AlertTemplate],
        drafts: DraftStore,
        officials: OfficialStore,
        subscriptions: SubscriptionStore,
        alerts: AlertService,
        once: IdempotentAlerts,
        acks: AckService,
        audit: AuditLog,
        links: Links,
    ) -> None:
        self.templates = templates
        self.drafts = drafts
        self.officials = officials
        self.subscriptions = subscriptions
        self.alerts = alerts
        self.once = once
        self.acks = acks
        self.audit = audit
        self.links = links
        self._live: dict[tuple[str, float], tuple[float, asyncio.Future[dict[str, Any]]]] = {}

    async def _require_alerts(self, sender: Sender, action: str) -> None:
        if not may_send(sender.role, SendKind.ALERT):
            await self.audit.record(actor=sender.name, action=action, outcome="forbidden", via="console")
            raise NotPermitted(f"sender role '{sender.role.value}' may not compose alerts; director may")

    async def new_draft(self, sender: Sender, status: str) -> Draft:
        """A draft with its status fixed for good. Raises NotPermitted or Conflict (unknown status)."""
        await self._require_alerts(sender, "console_draft")
        try:
            fixed = Status(status)
        except ValueError:
            raise Conflict(f"status: must be one of {', '.join(s.value for s in Status)}") from None
        draft = Draft(new_draft_id(), sender.name, fixed, time.time())
        await self.drafts.save(draft)
        return draft

    async def prepare_update(self, sender: Sender, alert_id: str) -> Draft:
        """A draft of an Update of a sent alert, pre-filled from it, its status fixed to the original's.
        Raises NotPermitted, NotFound, or Conflict once the alert is closed (cancelled or all clear)."""
        await self._require_alerts(sender, "console_update")
        record, _ = await self.alerts.alert_status(alert_id)
        closed = await self.alerts.alerts.closed_reason(alert_id)
        if closed:
            raise Conflict(f"alert_id: alert '{alert_id}' is closed ({closed}); an update would reach nobody")
        original = record["alert"]
        fields = update_fields(original)
        status = Status(original["status"])
        draft = Draft(new_draft_id(), sender.name, status, time.time(), fields, follows=alert_id)
        await self.drafts.save(draft)
        return draft

    async def check_compose(self, sender: Sender) -> None:
        """Raises NotPermitted (audited) unless the sender may compose alerts."""
        await self._require_alerts(sender, "console_compose")

    def template(self, key: str) -> AlertTemplate | None:
        return next((t for t in self.templates if t.key == key), None)

    async def draft(self, sender: Sender, draft_id: str) -> Draft:
        """The sender's own draft. Raises NotPermitted or NotFound (someone else's drafts are not found)."""
        await self._require_alerts(sender, "console_draft")
        draft = await self.drafts.get(draft_id)
        if draft is None or draft.author != sender.name:
            raise NotFound(f"draft: no draft '{draft_id}' of yours")
        return draft

    async def update(
        self, sender: Sender, draft_id: str, fields: dict[str, Any]
    ) -> tuple[Draft, list[FieldError]]:
        """Keep the composer's fields (never the status) and say what is still wrong with them."""
        draft = await self.draft(sender, draft_id)
        if draft.alert_id:
            raise Conflict(f"draft: already sent as alert {draft.alert_id}")
        draft = replace(draft, fields=fields)
        await self.drafts.save(draft)
        return draft, await self.problems(draft)

    async def problems(self, draft: Draft) -> list[FieldError]:
        """Every field the API would refuse, and an audience that matches nobody."""
        try:
            parsed = parse_alert_request(alert_request(draft), now=datetime.now(UTC))
        except AlertValidationError as error:
            return error.errors
        officials = (await self.officials.snapshot()).active
        problems = unknown_selectors(parsed.audience, officials)
        if not problems and not resolve_audience(parsed.audience, officials):
            problems.append(FieldError("audience", "matches no active official"))
        return problems

    async def count(self, draft: Draft) -> Coverage | None:
        """Who the draft would reach now, per channel, with the coverage gap (None: no valid audience)."""
        parser = FieldParser()
        audience = parser.audience(audience_of(draft.fields))
        if parser.errors:
            return None
        officials = resolve_audience(audience, (await self.officials.snapshot()).active)
        channels = [Channel(c) for c in draft.fields.get("channels", [])]
        return coverage(officials, channels, await self.subscriptions.suppressed())

    async def preview(self, sender: Sender, draft_id: str) -> dict[str, Any]:
        """Exactly what each channel will carry (code and link as long as the real ones) and to how many.
        Raises Conflict naming the fields while the draft cannot be sent."""
        draft = await self.draft(sender, draft_id)
        problems = await self.problems(draft)
        if problems:
            raise AlertValidationError(problems)
        now = datetime.now(UTC)
        alert = new_alert(parse_alert_request(alert_request(draft), now=now), sender=sender.name, now=now)
        link = self.links.alert_page(alert.id)
        channels = [Channel(c) for c in draft.fields.get("channels", [])]
        out: dict[str, Any] = {"draft": draft, "coverage": await self.count(draft), "channels": channels}
        if Channel.SMS in channels:
            out["sms"] = sms_text(alert, code=PREVIEW_CODE, link=link)
            out["sms_segments"] = sms_segments(out["sms"])
        if Channel.VOICE in channels:
            script = voice_script(alert, code=PREVIEW_CODE)
            out["voice"] = [*script.passes, script.ack_prompt, script.closing_after_prompt]
        if Channel.EMAIL in channels:
            html, text = email_bodies(alert, code=PREVIEW_CODE, link=link, ack_link=self.links.ack_page("…"))
            out["email"] = {"subject": email_subject(alert), "text": text, "html": html}
        return out

    async def send(self, sender: Sender, draft_id: str, typed: str) -> str:
        """Send the draft through the alert service; returns the alert id. Sending a sent draft again
        returns its alert and sends nothing. Raises Conflict (confirmation missing or wrong), or what
        `AlertService.submit_alert` raises."""
        draft = await self.draft(sender, draft_id)
        if draft.alert_id:
            return draft.alert_id
        if not confirmed(draft, typed):
            await self.audit.record(
                actor=sender.name, action="send_alert", outcome="unconfirmed", via="console", draft=draft.id
            )
            raise Conflict("confirm: type the event name exactly to send this Actual alert")
        if not await self.drafts.claim_send(draft.id):
            raise Conflict("draft: it is being sent right now; look at your alerts")
        try:
            again = await self.drafts.get(draft.id)
            if again is not None and again.alert_id:
                return again.alert_id
            # Keyed by the draft: an alert sent for it by a process that died before marking the draft
            # sent is found, not sent again.
            key = f"console-draft:{draft.id}"
            accepted = await self.once.submit(sender, alert_request(draft), key, same_as=key)
            alert_id = accepted.alert_id if isinstance(accepted, SentBefore) else accepted.alert.id
            await self.drafts.save(replace(draft, alert_id=alert_id))
        finally:
            await self.drafts.release_send(draft.id)
        return alert_id

    async def correct(self, sender: Sender, alert_id: str, kind: str) -> str:
        """The prepared correction, in one click: "cancel" (sent in error) or "all-clear", to everyone the
        alert reached, never waiting for approval. Returns the new alert's id; raises what sending does
        (Conflict once the alert is closed: a second click sends nothing)."""
        if kind == "all-clear":
            return (await self.alerts.all_clear(sender, alert_id)).alert.id
        record, _ = await self.alerts.alert_status(alert_id)
        accepted = await self.alerts.submit_alert(sender, cancel_in_error_request(alert_id, record["alert"]))
        return accepted.alert.id

    async def _require_watch(self, sender: Sender) -> None:
        if sender.role not in WATCHERS:
            await self.audit.record(actor=sender.name, action="console_watch", outcome="forbidden")
            raise NotPermitted(
                f"sender role '{sender.role.value}' may not watch alerts; director, viewer may"
            )

    async def recent(self, sender: Sender, limit: int = 20) -> list[dict[str, Any]]:
        """The newest alerts for the home page (directors and viewers)."""
        await self._require_watch(sender)
        out = []
        for record, progress in await self.alerts.recent_alerts(limit):
            alert = record["alert"]
            shown = {
                key: alert.get(key) for key in ("status", "msgType", "event", "headline", "sent", "sender")
            }
            out.append({**shown, "id": alert.get("identifier"), "settled": progress.settled})
        return out

    async def acks_csv(self, sender: Sender, alert_id: str) -> str:
        await self._require_watch(sender)
        return report_csv(await self.acks.report(alert_id))

    async def watch(self, sender: Sender, alert_id: str) -> dict[str, Any]:
        """An alert's record, delivery counts per channel and acknowledgements, for its live view; or,
        while it waits for a second director, that (`held`). Raises NotPermitted or NotFound."""
        await self._require_watch(sender)
        try:
            record, _ = await self.alerts.alert_status(alert_id)
        except NotFound:
            held = await self.alerts.approvals.get(alert_id)
            if held is None:
                raise NotFound(f"alert_id: no alert '{alert_id}'") from None
            paged = await self.alerts.approvals.paged(alert_id)
            return {"held": held.view(), "alert": held.alert.to_dict(), "paged": paged}
        report = await self.acks.report(alert_id)
        silent, unreachable = await self._not_yet(alert_id, report.pending[:NOT_YET_SHOWN], record)
        return {
            **await self.live(alert_id, sent_at(record)),
            "record": record,
            "acknowledged": len(report.acknowledged),
            "pending": len(report.pending),
            "by_district": report.by_district,
            "by_role": report.by_role,
            "silent": silent,
            "unreachable": unreachable,
            "not_yet_shown": min(len(report.pending), NOT_YET_SHOWN),
            "closed": await self.alerts.alerts.closed_reason(alert_id),
        }

    async def live_since(self, sender: Sender, alert_id: str) -> float:
        """When the alert went out (its live view's replies start there). Raises NotPermitted, NotFound."""
        await self._require_watch(sender)
        record, _ = await self.alerts.alert_status(alert_id)
        return sent_at(record)

    async def report(self, sender: Sender, alert_id: str) -> AfterAction:
        """The alert's after-action report (directors and viewers). Raises NotPermitted or NotFound."""
        await self._require_watch(sender)
        record, _ = await self.alerts.alert_status(alert_id)
        corrections = []
        for other, _progress in await self.alerts.recent_alerts(CORRECTIONS_LOOKED_AT):
            if alert_id in other["alert"].get("references", []):
                corrections.append(other["alert"])
        return after_action(
            record,
            sent_at(record),
            await self.alerts.alerts.all_deliveries(alert_id),
            await self.acks.acks.acks(alert_id),
            (await self.officials.snapshot()).by_id,
            corrections,
        )

    async def live(self, alert_id: str, sent_at: float = 0.0) -> dict[str, Any]:
        """The figures a live view refreshes every second, whatever the alert's size: a few O(1) reads,
        the escalation steps (done and due), and the newest inbound replies from those it reached. Read
        at most once per `LIVE_FRESH_SECONDS` per alert in this process, however many views are open
        (twenty directors watching a statewide alert cost what one does): views that ask while a read is
        under way wait for that read, and all get the same figures (the same object, so a view can tell
        it has them already). A read that fails is not kept."""
        key = (alert_id, sent_at)
        now = time.monotonic()
        cached = self._live.get(key)
        if cached is None or now - cached[0] >= LIVE_FRESH_SECONDS:
            if len(self._live) >= LIVE_CACHED_ALERTS and key not in self._live:
                self._live.pop(next(iter(self._live)))
            read = asyncio.ensure_future(self._read_live(alert_id, sent_at))
            read.add_done_callback(lambda done: self._forget_failed(key, done))
            cached = self._live[key] = (now, read)
        # A view that leaves mid-read cancels its wait, not the read the other views wait for.
        return await asyncio.shield(cached[1])

    def _forget_failed(self, key: tuple[str, float], read: asyncio.Future[dict[str, Any]]) -> None:
        failed = read.cancelled() or read.exception() is not None
        if failed and self._live.get(key, (0.0, None))[1] is read:
            del self._live[key]

    async def _read_live(self, alert_id: str, sent_at: float) -> dict[str, Any]:
        progress = await self.alerts.alerts.progress(alert_id)
        acknowledged, recipients = await self.acks.acks.counts(alert_id)
        plan = await self.alerts.alerts.escalation_plan(alert_id)
        waves = [int(w["wave"]) for w in plan.get("waves", [])] if plan else []
        waiting = await self.alerts.alerts.escalation_waiting(alert_id, waves)
        policies = {p.name: p for p in self.alerts.policies}
        return {
            "totals": progress.totals,
            "counts": progress.counts,
            "settled": progress.settled,
            "acknowledged": acknowledged,
            "pending": max(0, recipients - acknowledged),
            "steps": escalation_view(plan, policies, waiting, progress.totals, time.time()),
            "replies": await self._replies(alert_id, sent_at) if sent_at else [],
        }

    async def _replies(self, alert_id: str, since: float) -> list[dict[str, str]]:
        """Inbound SMS (not acknowledgements) since the alert went out, from officials it reached."""
        entries = await self.acks.acks.inbound_since(since, REPLIES_LOOKED_AT)
        reached = await self.acks.acks.contacted(alert_id, sorted({i for _, ids, _ in entries for i in ids}))
        registry = (await self.officials.snapshot()).by_id
        out = []
        for ts, ids, body in entries:
            names = [registry[i].name for i in ids if i in reached and i in registry]
            if names:
                at = datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC")
                out.append({"at": at, "who": ", ".join(names), "body": body})
        return out[:REPLIES_SHOWN]

    async def _not_yet(
        self, alert_id: str, pending: list[Official], record: dict[str, Any]
    ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Who has not acknowledged, split: silent (something reached them) and unreachable (every
        delivery failed, with the provider's reason). Numbers are masked; addresses never shown."""
        channels = [str(c) for c in record["alert"].get("channels", [])]
        ids = [o.id for o in pending]
        deliveries = {c: await self.alerts.alerts.get_deliveries(alert_id, c, ids) for c in channels}
        silent, unreachable = [], []
        for official in pending:
            mine = [(c, d) for c in channels if (d := deliveries[c].get(official.id)) is not None]
            row = {
                "name": official.name,
                "role": official.role.value,
                "school": official.school or official.district,
                "phone": mask_number(official.mobile or official.voice or ""),
            }
            if mine and all(d.state.value in ("failed", "parked", "canceled") for _, d in mine):
                row["reason"] = "; ".join(f"{c}: {d.reason or d.state.value}" for c, d in mine)
                unreachable.append(row)
            else:
                silent.append(row)
        return silent, unreachable
