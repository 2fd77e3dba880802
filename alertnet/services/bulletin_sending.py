"""Sending cyber bulletins: the audience its label allows, computed from the registry and the cyber list
of the moment; one message per indicator edition; each send one guarded transaction with the bulletin's
record, so nobody gets a bulletin twice (the first send, a widened label's new recipients, a retraction
notice)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ulid import ULID

from alertnet.content.bulletins import (
    bulletin_content,
    retraction_content,
)
from alertnet.domain.bulletins import (
    Bulletin,
    BulletinEdition,
    BulletinState,
    bulletin_editions,
)
from alertnet.domain.contacts import Official, Role
from alertnet.domain.messages import Channel, Message, MessageKind, Priority
from alertnet.domain.subscriptions import MailingList
from alertnet.domain.tlp import Marking
from alertnet.services.bulletin_reading import BulletinReading
from alertnet.services.errors import Conflict
from alertnet.services.fanout import FanOut
from alertnet.settings import Settings
from alertnet.store import keys as k
from alertnet.store.bulletins import (
    bulletin_key,
    guard_of,
    stage_notice_sent,
    stage_record,
    stage_sent,
)
from alertnet.store.digest import DigestStore

SEND_ATTEMPTS = 5
MESSAGE_DAYS = 7


class BulletinSending(BulletinReading):
    """The send side of `BulletinService`, which sets these."""

    settings: Settings
    fanout: FanOut
    digest_store: DigestStore

    # --- sending ----------------------------------------------------------------------------------

    async def _audience(self, bulletin: Bulletin) -> tuple[list[Official], set[str], set[str]]:
        """The officials the marking allows now, and which of them to email and to text."""
        snapshot = (await self.officials.snapshot()).by_id.values()
        left = await self.subscriptions.unsubscribed(MailingList.CYBER)
        allowed = [o for o in snapshot if o.id not in left and bulletin.marking.allows(o)]
        suppressed = await self.subscriptions.suppressed()
        email = {o.id for o in allowed if o.email and o.email.lower() not in suppressed}
        sms: set[str] = set()
        if bulletin.severity.urgent:
            opted_out = {m.decode() for m in await self.store.redis.smembers(k.SMS_OPT_OUT)}
            sms = {
                o.id
                for o in allowed
                if o.role is Role.CYBERSECURITY_COORDINATOR and o.mobile and o.mobile not in opted_out
            }
        return allowed, email, sms

    def _messages(
        self,
        bulletin: Bulletin,
        editions: Sequence[BulletinEdition],
        email: set[str],
        sms: set[str],
        now: float,
    ) -> list[tuple[Message, dict[Channel, list[str]]]]:
        out: list[tuple[Message, dict[Channel, list[str]]]] = []
        for edition in editions:
            to = {
                Channel.EMAIL: [i for i in edition.official_ids if i in email],
                Channel.SMS: [i for i in edition.official_ids if i in sms],
            }
            to = {channel: ids for channel, ids in to.items() if ids}
            if not to:
                continue
            stricter = {
                bulletin.indicator_marking(bulletin.indicators[n])
                for n in edition.indicators
                if bulletin.indicators[n].tlp is not None
            }
            markings: tuple[Marking, ...] = (bulletin.marking, *sorted(stricter, key=lambda m: m.tlp.rank))
            message = Message(
                id=new_message_id(),
                kind=MessageKind.BULLETIN,
                priority=Priority.NOTICE,
                acknowledgeable=False,
                escalatable=False,
                content=bulletin_content(bulletin, edition.indicators, sms=Channel.SMS in to),
                created=now,
                expires=now + MESSAGE_DAYS * 86400,
                mailing_list=MailingList.CYBER.value,
                markings=markings,
                bulletin_id=bulletin.id,
            )
            out.append((message, to))
        return out

    async def _send_new(
        self, bulletin: Bulletin, *, create: bool, now: float, also: Sequence[Any] = ()
    ) -> dict[str, int]:
        """Send `bulletin` (as it now stands, and written with it) to whoever its marking allows and has
        not had it yet. Guarded on the record that was read: retried from the top if anyone else wrote
        it meanwhile. Returns how many deliveries each channel got."""
        for _ in range(SEND_ATTEMPTS):
            found = None if create else await self.store.record(bulletin.id)
            fields = {} if found is None else found[1]
            allowed, email, sms = await self._audience(bulletin)
            if not create:
                email -= await self.store.sent_to(bulletin.id, Channel.EMAIL)
                sms -= await self.store.sent_to(bulletin.id, Channel.SMS)
            chosen = [o for o in allowed if o.id in email or o.id in sms]
            messages = self._messages(bulletin, bulletin_editions(bulletin, chosen), email, sms, now)
            recipients: dict[Channel, list[str]] = {Channel.EMAIL: [], Channel.SMS: []}
            for _, to in messages:
                for channel, ids in to.items():
                    recipients[channel].extend(ids)
            ids = [m.id for m, _ in messages]
            if not create and int(fields.get("version", 0)) not in (bulletin.version, bulletin.version - 1):
                raise Conflict(f"bulletin: '{bulletin.id}' changed meanwhile; look at it again")

            def stages(
                pipe: Any, ids: list[str] = ids, recipients: dict[Channel, list[str]] = recipients
            ) -> None:
                stage_record(pipe, bulletin, first=create)
                stage_sent(pipe, bulletin.id, recipients, ids)
                for stage in also:
                    stage(pipe)

            guard = (bulletin_key(bulletin.id), guard_of(fields))
            if await self.fanout.send_once(messages, guard=guard, also=[stages]):
                return {channel.value: len(ids) for channel, ids in recipients.items()}
            if create:
                raise Conflict(f"bulletin: '{bulletin.id}' was written meanwhile")  # a random id: never
        raise Conflict(f"bulletin: '{bulletin.id}' kept changing while it was being sent; try again")

    async def _save(self, bulletin: Bulletin, fields: dict[str, str]) -> None:
        async def write() -> bool:
            return await self.fanout.send_once(
                [],
                guard=(bulletin_key(bulletin.id), guard_of(fields)),
                also=[lambda p: stage_record(p, bulletin)],
            )

        if not await write():
            raise Conflict(f"bulletin: '{bulletin.id}' changed meanwhile; look at it again")

    async def _send_notices(self, bulletin: Bulletin, now: float) -> dict[str, int]:
        if await self.store.notice_sent(bulletin.id):
            return {}
        to = {
            Channel.EMAIL: sorted(await self.store.sent_to(bulletin.id, Channel.EMAIL)),
            Channel.SMS: sorted(await self.store.sent_to(bulletin.id, Channel.SMS)),
        }
        to = {channel: ids for channel, ids in to.items() if ids}
        messages = []
        if to:
            message = Message(
                id=new_message_id(),
                kind=MessageKind.BULLETIN,
                priority=Priority.NOTICE,
                acknowledgeable=False,
                escalatable=False,
                content=retraction_content(bulletin, sms=Channel.SMS in to),
                created=now,
                expires=now + MESSAGE_DAYS * 86400,
                markings=(bulletin.marking,),
            )
            messages.append((message, to))
        ids = [m.id for m, _ in messages]
        guard = (bulletin_key(bulletin.id), {"state": BulletinState.RETRACTED.value, "notice_sent": ""})
        if not await self.fanout.send_once(
            messages, guard=guard, also=[lambda p: stage_notice_sent(p, bulletin.id, ids)]
        ):
            return {}
        counts = {channel.value: len(ids) for channel, ids in to.items()}
        await self.audit.record(
            actor="bulletins",
            action="bulletin_retraction_notice",
            outcome="accepted",
            bulletin=bulletin.id,
            recipients=counts,
        )
        return counts


def new_message_id() -> str:
    return str(ULID())
