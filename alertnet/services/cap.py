"""CAP 1.2 for the Director's office: each alert as a signed CAP document, the public alerts as an Atom
feed, and CAP documents taken in as alerts.

A CAP document posted to ``POST /v1/alerts`` is parsed safely and validated against the OASIS schema
(`alertnet.services.cap_xml`), mapped onto an alert request (`alertnet.domain.cap_in`) and sent through
`AlertService.submit_alert`, the path of a JSON alert (authorization, the two-person rule, the
Exercise/Actual checks of follow-ups, auditing). The same message (sender, identifier, sent) posted
again sends nothing: the first answer's alert id comes back (`TakenBefore`); so does one of the hub's
own CAP documents posted back (its sender and an alert's id).

Who may read what: any sender may read any alert's CAP document with a token; a public alert's document
(and the feed that lists it) needs none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alertnet.content.cap import FeedEntry, atom_feed, cap_alert
from alertnet.domain.alert_request import ULID_RE, AlertValidationError
from alertnet.domain.alerts import Alert
from alertnet.domain.approvals import HeldAlert
from alertnet.domain.cap_in import (
    CapMessage,
    Triple,
    cap_request,
    county_geocodes,
    origin_key,
    parse_references,
)
from alertnet.domain.errors import FieldError
from alertnet.domain.links import Links
from alertnet.domain.senders import Sender, SendKind, may_send
from alertnet.services.alerts import AcceptedAlert, AlertService
from alertnet.services.cap_xml import (
    CapInvalid,
    CapSigner,
    CapUnreadable,
    parse_untrusted,
    read_message,
    validate,
)
from alertnet.services.errors import Conflict, Forbidden, NotFound
from alertnet.settings import CapSettings
from alertnet.store.alerts import AlertStore
from alertnet.store.audit import AuditLog
from alertnet.store.cap import PENDING, CapStore

FEED_SIZE = 50
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class NotPublic(Exception):
    """The alert is not public: its CAP document needs a token."""


@dataclass(frozen=True)
class TakenBefore:
    """This CAP message (sender, identifier, sent) was taken in before, as this alert: nothing was sent."""

    alert_id: str
    origin: dict[str, str]


class CapService:
    def __init__(
        self,
        settings: CapSettings,
        *,
        signer: CapSigner,
        geocodes: Mapping[tuple[str, str], str],
        alerts: AlertService,
        alert_store: AlertStore,
        store: CapStore,
        audit: AuditLog,
        links: Links,
    ) -> None:
        self.settings = settings
        self.signer = signer
        self.geocodes = geocodes
        self.alerts = alerts
        self.alert_store = alert_store
        self.store = store
        self.audit = audit
        self.links = links

    # ------------------------------------------------------------------------------------------ out

    def cap_url(self, alert_id: str) -> str:
        return f"{self.links.base_url}/v1/alerts/{alert_id}/cap"

    async def document(self, alert_id: str, *, authorized: bool) -> bytes:
        """The alert as a signed CAP 1.2 document. Raises NotFound, or NotPublic for a caller without a
        token asking for an alert that is not public."""
        record = await self.alert_store.get_record(alert_id)
        if record is None:
            raise NotFound(f"alert_id: no alert with id '{alert_id}'")
        alert = Alert.from_dict(record["alert"])
        if not (authorized or alert.public):
            raise NotPublic(alert_id)
        references: list[Triple] = []
        for ref in alert.references:
            original = await self.alert_store.get_record(ref)
            if original is not None:
                references.append((self.settings.sender, ref, str(original["alert"]["sent"])))
        root = cap_alert(
            alert,
            sender=self.settings.sender,
            sender_name=self.settings.sender_name,
            web=self.links.alert_page(alert.id),
            references=references,
            geocodes=[
                code for county in alert.audience.counties for code in county_geocodes(self.geocodes, county)
            ],
        )
        validate(root)  # a document the hub writes is always valid CAP 1.2 (CapInvalid: a bug)
        return await asyncio.to_thread(self.signer.sign, root)

    async def feed(self) -> bytes:
        """The Atom feed of the newest public alerts, each linking to its CAP document."""
        entries = []
        for alert_id in await self.store.public_ids(FEED_SIZE):
            record = await self.alert_store.get_record(alert_id)
            if record is not None:
                alert = Alert.from_dict(record["alert"])
                entries.append(FeedEntry(alert, self.cap_url(alert_id), self.links.alert_page(alert_id)))
        return atom_feed(
            entries,
            feed_url=f"{self.links.base_url}/v1/alerts.atom",
            title=f"{self.settings.sender_name}: public school safety alerts",
            author=self.settings.sender_name,
            updated=entries[0].alert.sent if entries else EPOCH,
        )

    # ------------------------------------------------------------------------------------------- in

    async def submit(self, sender: Sender, body: bytes) -> AcceptedAlert | HeldAlert | TakenBefore:
        """Take a CAP 1.2 document in as an alert (see the module's docstring).

        Raises Forbidden, CapUnreadable (not XML, or a DOCTYPE), AlertValidationError (the schema's
        message, or every field the mapping or the alert rules refuse), Conflict (the same message is
        being sent by another request, or a Cancel of a closed alert). Every refusal is audited."""
        if not may_send(sender.role, SendKind.ALERT):
            await self.audit.record(actor=sender.name, action="send_alert", outcome="forbidden", format="cap")
            raise Forbidden(sender, SendKind.ALERT)
        try:
            root = parse_untrusted(body)
            validate(root)
        except CapUnreadable as error:
            await self._refused(sender, [FieldError("body", str(error))])
            raise
        except CapInvalid as error:
            problem = FieldError("body", f"not valid CAP 1.2 (OASIS schema): {error}")
            await self._refused(sender, [problem])
            raise AlertValidationError([problem]) from None
        message = read_message(root)
        try:
            key = origin_key(message.sender, message.identifier, message.sent)
        except ValueError:
            await self._refused(sender, [FieldError("sent", "is not a date-time")])
            raise AlertValidationError([FieldError("sent", "is not a date-time")]) from None
        if await self._ours(message):  # the hub's own CAP document of an alert, posted back
            return TakenBefore(message.identifier, message.origin.to_dict())
        taken = await self.store.claim(key)
        if taken == PENDING:
            raise Conflict("identifier: this CAP message (sender, identifier, sent) is being sent right now")
        if taken is not None:
            await self.audit.record(
                actor=sender.name, action="send_alert", outcome="duplicate", alert_id=taken,
                cap=message.origin.to_dict(),
            )  # fmt: skip
            return TakenBefore(taken, message.origin.to_dict())
        try:
            accepted = await self._send(sender, message)
        except BaseException:
            await self.store.release(key)
            raise
        if isinstance(accepted, HeldAlert):
            await self.store.settle(key, accepted.alert.id)
        return accepted

    async def _send(self, sender: Sender, message: CapMessage) -> AcceptedAlert | HeldAlert:
        resolved, original_audience = await self._references(message)
        try:
            request = cap_request(
                message,
                index=self.geocodes,
                channels=self.settings.channels,
                resolved=resolved,
                original_audience=original_audience,
            )
        except AlertValidationError as error:
            await self._refused(sender, error.errors)
            raise
        return await self.alerts.submit_alert(sender, request, cap=message.origin)

    async def _references(self, message: CapMessage) -> tuple[dict[Triple, str], dict[str, Any] | None]:
        """The alert id each reference names (the hub's own CAP documents, and CAP messages it took in),
        and the audience of the first one found."""
        resolved: dict[Triple, str] = {}
        audience: dict[str, Any] | None = None
        triples, _ = parse_references(message.references)
        for triple in triples:
            sender, identifier, sent = triple
            alert_id: str | None = None
            ours = sender == self.settings.sender and ULID_RE.fullmatch(identifier.upper())
            if ours and await self.alert_store.get_record(identifier.upper()):
                alert_id = identifier.upper()
            if alert_id is None:
                alert_id = await self.store.taken_as(origin_key(sender, identifier, sent))
            if alert_id is None:
                continue
            resolved[triple] = alert_id
            if audience is None:
                record = await self.alert_store.get_record(alert_id)
                audience = None if record is None else dict(record["alert"].get("audience", {}))
        return resolved, audience

    async def _ours(self, message: CapMessage) -> bool:
        """The message is one of the hub's own CAP documents (its sender, an alert's id)."""
        if message.sender != self.settings.sender or not ULID_RE.fullmatch(message.identifier):
            return False
        return await self.alert_store.get_record(message.identifier) is not None

    async def _refused(self, sender: Sender, errors: list[FieldError]) -> None:
        await self.audit.record(
            actor=sender.name, action="send_alert", outcome="invalid", format="cap",
            errors=[e.to_dict() for e in errors],
        )  # fmt: skip
