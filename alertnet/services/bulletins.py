"""Cyber threat bulletins as publishers, readers and officials use them: publish (to the weekly digest or at
once), change who may receive one (never quietly wider), retract, read, export, and see who opened it.

The TLP label decides the audience, computed at fan-out from the registry and the cyber list of that
moment; the worker checks each delivery against the same markings again just before it sends. Every send
(the first, a widened label's new recipients, a retraction notice) is one guarded transaction with the
bulletin's record: nobody gets a bulletin twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from alertnet.content.bulletins import (
    digest_item_fields,
)
from alertnet.domain.audience import Audience
from alertnet.domain.bulletin_input import parse_bulletin, parse_change
from alertnet.domain.bulletins import (
    Bulletin,
    BulletinState,
    BulletinValidationError,
    applied,
    new_bulletin,
)
from alertnet.domain.contacts import Official, Subscription
from alertnet.domain.digest import DigestItem, digest_recipient, new_item_id
from alertnet.domain.errors import FieldError
from alertnet.domain.links import Links
from alertnet.domain.messages import Channel
from alertnet.domain.senders import Sender
from alertnet.domain.subscriptions import MailingList
from alertnet.domain.tlp import Marking
from alertnet.services.bulletin_reading import PUBLISHERS
from alertnet.services.bulletin_sending import BulletinSending
from alertnet.services.digest import DigestService
from alertnet.services.errors import Conflict, NotFound, NotPermitted
from alertnet.services.fanout import FanOut
from alertnet.settings import Settings
from alertnet.store.audit import AuditLog
from alertnet.store.bulletins import (
    BulletinStore,
)
from alertnet.store.digest import DigestStore, SubscriptionStore
from alertnet.store.registry import OfficialStore


class BulletinService(BulletinSending):
    """Publishing, changing and retracting bulletins (reading is `BulletinReading`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: BulletinStore,
        digest: DigestService,
        digest_store: DigestStore,
        subscriptions: SubscriptionStore,
        officials: OfficialStore,
        fanout: FanOut,
        audit: AuditLog,
        links: Links,
        secret: bytes,
    ) -> None:
        self.settings = settings
        self.store = store
        self.digest = digest
        self.digest_store = digest_store
        self.subscriptions = subscriptions
        self.officials = officials
        self.fanout = fanout
        self.audit = audit
        self.links = links
        self.secret = secret

    async def _invalid(
        self, sender: Sender, action: str, errors: list[FieldError]
    ) -> BulletinValidationError:
        await self.audit.record(
            actor=sender.name, action=action, outcome="invalid", errors=[e.to_dict() for e in errors]
        )
        return BulletinValidationError(errors)

    # --- publish ----------------------------------------------------------------------------------

    async def publish(self, sender: Sender, payload: object, *, now: float | None = None) -> dict[str, Any]:
        """Check and store a bulletin, then queue it for the digest or send it at once. Raises
        NotPermitted or BulletinValidationError (every bad field; nothing stored or sent)."""
        await self._require(sender, PUBLISHERS, "bulletin_publish")
        now = time.time() if now is None else now
        try:
            fields = parse_bulletin(payload)
        except BulletinValidationError as error:
            raise await self._invalid(sender, "bulletin_publish", error.errors) from None
        snapshot = list((await self.officials.snapshot()).by_id.values())
        problems = self._unknown_names(fields["organizations"], fields["officials"], snapshot)
        if problems:
            raise await self._invalid(sender, "bulletin_publish", problems)
        bulletin = new_bulletin(fields, author=sender.name, now=now)
        if bulletin.waits_for_digest:
            bulletin = await self._queue_for_digest(bulletin, sender, now)
            sent: dict[str, int] = {}
        else:
            sent = await self._send_new(bulletin, create=True, now=now)
        await self.audit.record(
            actor=sender.name,
            action="bulletin_publish",
            outcome="accepted",
            bulletin=bulletin.id,
            tlp=bulletin.tlp.value,
            severity=bulletin.severity.value,
            organizations=list(bulletin.organizations),
            officials=list(bulletin.officials),
            route="digest" if bulletin.state is BulletinState.WAITING else "now",
            recipients=sent,
        )
        return await self.view(bulletin, sent=sent)

    async def check_publisher(self, sender: Sender) -> None:
        """Raises NotPermitted (audited) unless the sender publishes bulletins (the console's form)."""
        await self._require(sender, PUBLISHERS, "publish_bulletins")

    async def recipients(
        self, sender: Sender, payload: object, *, now: float | None = None
    ) -> dict[str, Any]:
        """Who publishing `payload` now would reach, storing and sending nothing: the checks `publish`
        makes, then the audience its send computes (`_audience`), or, for a bulletin that waits for the
        weekly update, those of it who take the update. Raises NotPermitted or BulletinValidationError."""
        await self._require(sender, PUBLISHERS, "bulletin_check")
        now = time.time() if now is None else now
        fields = parse_bulletin(payload)
        snapshot = list((await self.officials.snapshot()).by_id.values())
        problems = self._unknown_names(fields["organizations"], fields["officials"], snapshot)
        if problems:
            raise BulletinValidationError(problems)
        bulletin = new_bulletin(fields, author=sender.name, now=now)
        allowed, email, sms = await self._audience(bulletin)
        issue, send_time = 0, ""
        if bulletin.waits_for_digest:
            issue = await self.digest.open_issue(now)
            send_time = self.digest.schedule.send_time(issue).isoformat()
            unsubscribed = await self.subscriptions.unsubscribed(MailingList.DIGEST)
            suppressed = await self.subscriptions.suppressed()
            email = {
                o.id for o in allowed if digest_recipient(o, unsubscribed=unsubscribed, suppressed=suppressed)
            }
        return {
            "tlp": bulletin.tlp.value,
            "colour": bulletin.tlp.colour,
            "sharing_rule": bulletin.tlp.sharing_rule,
            "severity": bulletin.severity.value,
            "organizations": list(bulletin.organizations),
            "officials": list(bulletin.officials),
            "route": "digest" if bulletin.waits_for_digest else "now",
            "digest_issue": issue,
            "digest_send_time": send_time,
            "allowed": len(allowed),
            "recipients": {Channel.EMAIL.value: len(email), Channel.SMS.value: len(sms)},
            "sms_notice": bulletin.severity.urgent,
        }

    def _unknown_names(
        self, organizations: Sequence[str], officials: Sequence[str], snapshot: Sequence[Official]
    ) -> list[FieldError]:
        """Named organizations and officials the registry does not know, or who take no cyber bulletins."""
        errors: list[FieldError] = []
        districts = {o.district.strip().casefold() for o in snapshot}
        districts.add(self.settings.bulletins.state_organization.strip().casefold())
        takers = {
            o.district.strip().casefold()
            for o in snapshot
            if o.active and Subscription.CYBER in o.subscriptions
        }
        for n, name in enumerate(organizations):
            key = name.strip().casefold()
            if key not in districts:
                errors.append(FieldError(f"organizations[{n}]", f"no organization (district) named {name!r}"))
            elif key not in takers:
                errors.append(
                    FieldError(f"organizations[{n}]", f"no official of {name!r} takes cyber bulletins")
                )
        by_id = {o.id.casefold(): o for o in snapshot}
        for n, official_id in enumerate(officials):
            found = by_id.get(official_id.strip().casefold())
            if found is None:
                errors.append(FieldError(f"officials[{n}]", f"no official with id {official_id!r}"))
            elif not found.active or Subscription.CYBER not in found.subscriptions:
                errors.append(
                    FieldError(
                        f"officials[{n}]", f"{official_id!r} is not an active cyber bulletin subscriber"
                    )
                )
        return errors

    async def _queue_for_digest(self, bulletin: Bulletin, sender: Sender, now: float) -> Bulletin:
        issue = await self.digest.open_issue(now)
        position = len(await self.digest_store.items(issue))
        shown = digest_item_fields(bulletin)
        item = DigestItem(
            id=new_item_id(),
            issue=issue,
            title=shown["title"],
            body=shown["body"],
            link="",
            category="cyber",
            audience=Audience(statewide=True),
            position=position,
            created_by=sender.name,
            created=now,
            updated_by=sender.name,
            updated=now,
            bulletin=bulletin.id,
            tlp=bulletin.tlp.value,
        )
        waiting = replace(bulletin, digest_item=item.id, digest_issue=issue)
        await self.store.save_waiting(waiting, lambda pipe: DigestStore.stage_item(pipe, item, sender.name))
        return waiting

    # --- change -----------------------------------------------------------------------------------

    async def change(
        self, sender: Sender, bulletin_id: str, payload: object, *, now: float | None = None
    ) -> dict[str, Any]:
        """Change the label or the names it needs. Stricter is always allowed; anything wider needs a
        second publisher (not the author) and a reason. New recipients get it, nobody twice."""
        await self._require(sender, PUBLISHERS, "bulletin_change", bulletin=bulletin_id)
        now = time.time() if now is None else now
        found = await self.store.record(bulletin_id)
        if found is None:
            raise NotFound(f"bulletin: no bulletin '{bulletin_id}'")
        bulletin, fields = found
        if bulletin.state is BulletinState.RETRACTED:
            raise Conflict(f"bulletin: '{bulletin_id}' was retracted")
        try:
            change = parse_change(payload, bulletin)
        except BulletinValidationError as error:
            raise await self._invalid(sender, "bulletin_change", error.errors) from None
        snapshot = list((await self.officials.snapshot()).by_id.values())
        problems = self._unknown_names(change.organizations, change.officials, snapshot)
        if problems:
            raise await self._invalid(sender, "bulletin_change", problems)
        new_marking = Marking(change.tlp, change.organizations, change.officials)
        widening = bulletin.marking.widened_by(new_marking, snapshot)
        if widening:
            refusal = None
            if sender.name == bulletin.author:
                refusal = (
                    f"{'; '.join(widening)}: a wider audience needs a second cyber_publisher or a director, "
                    f"not the author '{bulletin.author}'"
                )
            elif not change.reason:
                raise await self._invalid(
                    sender,
                    "bulletin_change",
                    [FieldError("reason", f"is required to widen: {'; '.join(widening)}")],
                )
            if refusal is not None:
                await self.audit.record(
                    actor=sender.name, action="bulletin_change", outcome="forbidden", bulletin=bulletin_id,
                    widening=widening,
                )  # fmt: skip
                raise NotPermitted(refusal)
        changed = applied(bulletin, change, actor=sender.name, now=now, widening=widening)
        sent: dict[str, int] = {}
        if bulletin.state is BulletinState.WAITING and not changed.waits_for_digest:
            # AMBER and stricter never wait for the digest: out of the issue, and sent now.
            withdraw = []
            waiting_item = await self.digest_store.item(bulletin.digest_item)
            if waiting_item is not None:

                def out_of_digest(pipe: Any, item: DigestItem = waiting_item) -> None:
                    DigestStore.stage_withdraw(pipe, item, sender.name)

                withdraw.append(out_of_digest)
            changed = replace(changed, state=BulletinState.SENT, digest_item="", digest_issue=0)
            sent = await self._send_new(changed, create=False, now=now, also=withdraw)
        elif bulletin.state is BulletinState.WAITING:
            item = await self.digest_store.item(bulletin.digest_item)
            if item is not None:
                shown = digest_item_fields(changed)
                await self.digest_store.save_item(
                    replace(item, title=shown["title"], body=shown["body"], tlp=changed.tlp.value),
                    sender.name,
                )
            await self._save(changed, fields)
        else:
            sent = await self._send_new(changed, create=False, now=now)
        await self.audit.record(
            actor=sender.name,
            action="bulletin_change",
            outcome="accepted",
            bulletin=bulletin_id,
            before=bulletin.marking.to_dict(),
            after=changed.marking.to_dict(),
            reason=change.reason,
            widening=widening,
            recipients=sent,
        )
        return await self.view(changed, sent=sent)

    # --- retract ----------------------------------------------------------------------------------

    async def retract(
        self, sender: Sender, bulletin_id: str, payload: object, *, now: float | None = None
    ) -> dict[str, Any]:
        """Retract a bulletin sent in error: links and exports stop at once, and everyone it was sent to
        gets a short notice with the same label. Asking again finishes an interrupted retraction."""
        await self._require(sender, PUBLISHERS, "bulletin_retract", bulletin=bulletin_id)
        now = time.time() if now is None else now
        reason = ""
        if isinstance(payload, dict):
            extra = [key for key in payload if key != "reason"]
            if extra:
                raise await self._invalid(
                    sender, "bulletin_retract", [FieldError(extra[0], "unknown field; allowed: reason")]
                )
            raw = payload.get("reason", "")
            if not isinstance(raw, str) or len(raw.strip()) > 500:
                raise await self._invalid(
                    sender,
                    "bulletin_retract",
                    [FieldError("reason", "must be a string of at most 500 characters")],
                )
            reason = raw.strip()
        elif payload is not None:
            raise await self._invalid(
                sender, "bulletin_retract", [FieldError("body", "must be a JSON object")]
            )
        found = await self.store.record(bulletin_id)
        if found is None:
            raise NotFound(f"bulletin: no bulletin '{bulletin_id}'")
        bulletin, fields = found
        if bulletin.state is not BulletinState.RETRACTED:
            was_waiting = bulletin.state is BulletinState.WAITING
            retracted = replace(bulletin, retracted_by=sender.name, retracted_reason=reason, retracted_at=now)
            also = None
            if was_waiting:
                item = await self.digest_store.item(bulletin.digest_item)
                if item is not None:

                    def also(pipe: Any, item: DigestItem = item) -> None:
                        DigestStore.stage_withdraw(pipe, item, sender.name)

            if not await self.store.retract(
                retracted, expected_version=int(fields.get("version", 0)), also=also
            ):
                raise Conflict(f"bulletin: '{bulletin_id}' changed meanwhile; look at it again")
            bulletin = replace(retracted, state=BulletinState.RETRACTED)
            await self.audit.record(
                actor=sender.name,
                action="bulletin_retract",
                outcome="accepted",
                bulletin=bulletin_id,
                reason=reason,
            )
        notices = await self._send_notices(bulletin, now)
        return await self.view(bulletin, sent=notices)
