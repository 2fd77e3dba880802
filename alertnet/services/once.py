"""Alert requests a client may send more than once: a script's retry after a timeout, a replayed request.

With an `Idempotency-Key` header (the IETF httpapi draft's), one sender's requests with the same key within
a day send one alert: a retry of the same request is told the alert it was sent as and sends nothing; the
same key with a different request is refused (422, naming the header); a retry while the first is still
being sent gets a 409 and may try again. The key is marked used in the alert's own transaction, so a
crash leaves either the alert and its key or neither. Without the header nothing changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from alertnet.domain.alert_request import AlertValidationError
from alertnet.domain.approvals import HeldAlert
from alertnet.domain.errors import FieldError
from alertnet.domain.senders import Sender
from alertnet.services.alerts import AcceptedAlert, AlertService
from alertnet.services.errors import Conflict
from alertnet.store.audit import AuditLog
from alertnet.store.idempotency import PENDING, IdempotencyStore, idempotency_key

HEADER = "Idempotency-Key"
MAX_KEY = 255


@dataclass(frozen=True)
class SentBefore:
    """The request was sent before with this key, as `alert_id` (sent, or held for approval)."""

    alert_id: str


def key_problem(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY:
        return f"must be 1 to {MAX_KEY} characters"
    if not all(" " <= c <= "~" for c in key):
        return "must be printable ASCII"
    return ""


def request_digest(payload: object) -> str:
    """What tells one request from another: SHA-256 over its JSON body, keys sorted."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class IdempotentAlerts:
    def __init__(self, alerts: AlertService, store: IdempotencyStore, audit: AuditLog) -> None:
        self.alerts = alerts
        self.store = store
        self.audit = audit

    async def submit(
        self, sender: Sender, payload: object, key: str, *, same_as: str = ""
    ) -> AcceptedAlert | HeldAlert | SentBefore:
        """`AlertService.submit_alert`, once per (sender, key) a day. Raises what it raises, and
        AlertValidationError (a bad key, or one used for another request) or Conflict (in flight).
        `same_as`: what makes two requests the same, for callers in the hub whose request may be built
        again differently (a console draft: the draft); by default the request body."""
        problem = key_problem(key)
        if problem:
            raise AlertValidationError([FieldError(HEADER, problem)])
        digest = request_digest(same_as or payload)
        stored = idempotency_key(sender.name, key)
        used = await self.store.claim(stored, digest)
        if used is not None and used.digest != digest:
            await self.audit.record(actor=sender.name, action="send_alert", outcome="idempotency_key_reused")
            raise AlertValidationError(
                [FieldError(HEADER, "was used for a different request in the last 24 hours; use a new key")]
            )
        if used is not None and used.alert_id == PENDING:
            raise Conflict(f"{HEADER}: the request with this key is being sent right now; try again")
        if used is not None:
            await self.audit.record(
                actor=sender.name, action="send_alert", outcome="duplicate", alert_id=used.alert_id
            )
            return SentBefore(used.alert_id)
        try:
            accepted = await self.alerts.submit_alert(sender, payload, once=(stored, digest))
        except BaseException:
            await self.store.release(stored)
            raise
        if isinstance(accepted, HeldAlert):
            await self.store.settle(stored, accepted.alert.id, digest)
        return accepted
