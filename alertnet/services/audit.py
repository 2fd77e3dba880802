"""Reading the audit trail: every accepted or refused send, ack and sign-in failure, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alertnet.domain.audit_chain import checkpoint_bytes, first_problem
from alertnet.domain.senders import AUDIT_READERS, Sender, may_read_audit
from alertnet.domain.signing import AlertSigner, verify_signature
from alertnet.services.errors import MayNotRead
from alertnet.store.audit import AuditLog


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: how much was checked, and the first break (None when the trail holds)."""

    entries: int
    checkpoints: int
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.problem is None


class AuditService:
    def __init__(self, audit: AuditLog, signer: AlertSigner) -> None:
        self.audit = audit
        self.signer = signer

    async def checkpoint(self) -> str | None:
        """Sign the chain's newest entry with the hub's key (the scheduler does it periodically), so the
        trail cannot be rebuilt wholesale by someone who can write to Redis but has not the key."""
        newest = await self.audit.newest_entry()
        if newest is None:
            return None
        entry_id, hash_ = newest
        signature = self.signer.sign(checkpoint_bytes(entry_id, hash_))
        await self.audit.save_checkpoint(entry_id, hash_, signature, self.signer.key_id)
        return entry_id

    async def verify(self) -> ChainReport:
        """Walk the whole trail: the first edited, inserted or deleted entry, a rewritten chain, or a
        checkpoint whose signature does not hold."""
        entries, head = await self.audit.chain()
        checkpoints = await self.audit.checkpoints()
        for entry_id, point in sorted(checkpoints.items()):
            data = checkpoint_bytes(entry_id, point.get("hash", ""))
            if not verify_signature(self.signer.public_key_b64, data, point.get("signature", "")):
                return ChainReport(
                    len(entries), len(checkpoints), f"{entry_id}: checkpoint: signature does not hold"
                )
        pinned = {entry_id: point["hash"] for entry_id, point in checkpoints.items()}
        ids = {entry_id for entry_id, _ in entries}
        for entry_id in sorted(pinned):
            if entry_id not in ids:
                return ChainReport(
                    len(entries), len(checkpoints), f"{entry_id}: deleted: a signed checkpoint names it"
                )
        problem = first_problem(entries, head=head, checkpoints=pinned)
        return ChainReport(len(entries), len(checkpoints), None if problem is None else str(problem))

    async def trail(self, sender: Sender, limit: int, *, refused: bool = False) -> list[dict[str, Any]]:
        """The newest `limit` audit entries, newest first; with `refused`, the requests refused for their
        credentials instead. Raises MayNotRead for other roles (the refusal is audited)."""
        if not may_read_audit(sender.role):
            await self.audit.record(
                actor=sender.name,
                action="audit_read",
                outcome="forbidden",
                stream="refused" if refused else "trail",
            )
            readers = ", ".join(sorted(r.value for r in AUDIT_READERS))
            raise MayNotRead(
                f"sender role '{sender.role.value}' may not read the audit trail; roles that may: {readers}"
            )
        return await self.audit.recent(limit, refused=refused)
