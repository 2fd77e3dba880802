"""The two-person rule's decisions: a second director approves or rejects a held alert (nobody decides
their own, whatever their role), and the configured fallback for a night when nobody answers. Every
decision and every refusal is audited; a decision is claimed once, so the alert goes out at most once."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from alertnet.domain.alert_request import AlertValidationError
from alertnet.domain.approvals import ApprovalState, Fallback, HeldAlert, approval_refusal, page_request
from alertnet.domain.senders import Sender, SenderRole
from alertnet.services.alerts import AcceptedAlert, AlertService
from alertnet.services.errors import Conflict, NotFound, NotPermitted
from alertnet.settings import ApprovalSettings
from alertnet.store.approvals import ApprovalStore
from alertnet.store.audit import AuditLog
from alertnet.store.registry import SenderStore

MAX_REASON = 500
PAGER = Sender(name="alertnet-approvals", role=SenderRole.DIRECTOR, created="")


class ApprovalService:
    def __init__(
        self,
        settings: ApprovalSettings,
        *,
        store: ApprovalStore,
        alerts: AlertService,
        audit: AuditLog,
        senders: SenderStore,
        console_url: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.alerts = alerts
        self.audit = audit
        self.senders = senders
        self.console_url = console_url.rstrip("/")

    async def _may_see(self, sender: Sender, **detail: str) -> None:
        """Directors and viewers see held alerts; anyone else is refused, and the refusal audited."""
        if sender.role not in (SenderRole.DIRECTOR, SenderRole.VIEWER):
            await self.audit.record(actor=sender.name, action="approvals_read", outcome="forbidden", **detail)
            raise NotPermitted(
                f"sender role '{sender.role.value}' may not see held alerts; director, viewer may"
            )

    async def get(self, sender: Sender, alert_id: str) -> HeldAlert:
        await self._may_see(sender, alert_id=alert_id[:64])
        held = await self.store.get(alert_id)
        if held is None:
            raise NotFound(f"alert_id: no alert '{alert_id}' is or was waiting for approval")
        return held

    async def pending(self, sender: Sender) -> list[dict[str, Any]]:
        """Every alert still waiting, oldest first (directors and viewers)."""
        await self._may_see(sender)
        found = [await self.store.get(i) for i in await self.store.pending()]
        return [h.view() for h in found if h is not None]

    async def _decide(self, sender: Sender, alert_id: str, action: str) -> HeldAlert:
        held = await self.store.get(alert_id)
        if held is None:
            await self.audit.record(actor=sender.name, action=action, outcome="not_found", alert_id=alert_id)
            raise NotFound(f"alert_id: no alert '{alert_id}' is waiting for approval")
        refusal = approval_refusal(held.alert.sender, sender.name, sender.role is SenderRole.DIRECTOR)
        if refusal:
            await self.audit.record(actor=sender.name, action=action, outcome="forbidden", alert_id=alert_id)
            raise NotPermitted(refusal)
        if held.state is not ApprovalState.PENDING or not await self.store.claim(alert_id):
            raise Conflict(f"alert_id: '{alert_id}' was already decided ({held.state.value})")
        return held

    async def approve(self, sender: Sender, alert_id: str) -> AcceptedAlert:
        """Send the held alert, approved by this (second) director. Raises NotFound, NotPermitted (the
        author, or not a director) or Conflict (already decided)."""
        held = await self._decide(sender, alert_id, "alert_approve")
        return await self._send(held, sender.name, ApprovalState.APPROVED, "alert_approve")

    async def reject(self, sender: Sender, alert_id: str, payload: object) -> HeldAlert:
        """Refuse the held alert: it is never sent. Raises as `approve` does, or Conflict for a bad reason."""
        reason = payload.get("reason", "") if isinstance(payload, dict) else ""
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise Conflict(f"reason: must be a string of at most {MAX_REASON} characters")
        held = await self._decide(sender, alert_id, "alert_reject")
        rejected = replace(held, state=ApprovalState.REJECTED, decided_by=sender.name, reason=reason.strip())
        await self.store.decided(rejected)
        await self.audit.record(
            actor=sender.name, action="alert_reject", outcome="accepted", alert_id=alert_id, reason=reason
        )
        return rejected

    async def _send(self, held: HeldAlert, by: str, state: ApprovalState, action: str) -> AcceptedAlert:
        try:
            accepted = await self.alerts.send_held(held, by)
        except BaseException:
            await self.store.release(held.alert.id)
            raise
        await self.store.decided(replace(held, state=state, decided_by=by))
        await self.audit.record(actor=by, action=action, outcome=state.value, alert_id=held.alert.id)
        return accepted

    async def run_fallback(self, now: float | None = None) -> int:
        """Send, audited as unapproved, every held alert older than the fallback's wait, if the state set
        one (the scheduler's tick). Returns how many went out."""
        if self.settings.fallback != Fallback.SEND.value:
            return 0
        now = time.time() if now is None else now
        sent = 0
        for alert_id in await self.store.pending(older_than=now - self.settings.fallback_seconds):
            held = await self.store.get(alert_id)
            if (
                held is None
                or held.state is not ApprovalState.PENDING
                or not await self.store.claim(alert_id)
            ):
                continue
            await self._send(held, "fallback", ApprovalState.SENT_UNAPPROVED, "alert_fallback_send")
            sent += 1
        return sent

    async def page_waiting(self) -> int:
        """Page every other active director (SMS and call to their own registry entry) about each alert
        newly held for approval, once per alert (the scheduler's tick, within seconds of the hold).
        Audited, with whom it paged or why nobody could be. Returns how many alerts were paged about."""
        paged = 0
        for alert_id in await self.store.pending():
            held = await self.store.get(alert_id)
            if (
                held is None
                or held.state is not ApprovalState.PENDING
                or not await self.store.claim_page(alert_id)
            ):
                continue
            others = [
                s
                for s in await self.senders.all()
                if s.role is SenderRole.DIRECTOR and s.active and s.name != held.alert.sender
            ]
            reachable = [s for s in others if s.official]
            detail = {"alert_id": alert_id, "directors": [s.name for s in reachable]}
            if not reachable:
                await self.audit.record(actor=PAGER.name, action="approval_page", outcome="nobody", **detail)
                continue
            request = page_request(held, sorted({s.official for s in reachable}), self.console_url)
            try:
                accepted = await self.alerts.submit_alert(PAGER, request)
            except AlertValidationError as error:
                reasons = "; ".join(f"{e.field}: {e.reason}" for e in error.errors)
                await self.audit.record(
                    actor=PAGER.name, action="approval_page", outcome="invalid", reason=reasons, **detail
                )
                continue
            await self.store.paged(alert_id, [s.name for s in reachable])
            page_id = accepted.alert.id if isinstance(accepted, AcceptedAlert) else ""
            await self.audit.record(
                actor=PAGER.name, action="approval_page", outcome="accepted", page_alert=page_id, **detail
            )
            paged += 1
        return paged
