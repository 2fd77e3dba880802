"""Reading the audit trail: every accepted or refused send, ack and sign-in failure, newest first."""

from __future__ import annotations

from typing import Any

from alertnet.domain.senders import AUDIT_READERS, Sender, may_read_audit
from alertnet.services.errors import MayNotRead
from alertnet.store.audit import AuditLog


class AuditService:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    async def trail(self, sender: Sender, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` audit entries, newest first. Raises MayNotRead for other roles."""
        if not may_read_audit(sender.role):
            readers = ", ".join(sorted(r.value for r in AUDIT_READERS))
            raise MayNotRead(
                f"sender role '{sender.role.value}' may not read the audit trail; roles that may: {readers}"
            )
        return await self.audit.recent(limit)
