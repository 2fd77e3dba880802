"""Reading cyber bulletins: over the API by sender role (restricted labels by publishers and directors
only), their exports, who opened them, and an official's personal link. Every view and download of a
restricted bulletin is logged."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from alertnet.content.bulletins import (
    bulletin_gone_page_html,
    bulletin_page_html,
)
from alertnet.content.stix_export import indicators_csv, stix_bundle
from alertnet.domain.bulletin_links import LinkError, read_token
from alertnet.domain.bulletins import (
    Bulletin,
    BulletinState,
)
from alertnet.domain.links import Links
from alertnet.domain.messages import Channel
from alertnet.domain.senders import Sender, SenderRole
from alertnet.domain.subscriptions import MailingList
from alertnet.services.errors import Gone, NotFound, NotPermitted
from alertnet.store.audit import AuditLog
from alertnet.store.bulletins import (
    BulletinStore,
)
from alertnet.store.digest import SubscriptionStore
from alertnet.store.registry import OfficialStore

PUBLISHERS = frozenset({SenderRole.DIRECTOR, SenderRole.CYBER_PUBLISHER})
READERS = frozenset(SenderRole)  # CLEAR and GREEN: every sender role; restricted ones: PUBLISHERS


@dataclass(frozen=True)
class OfficialView:
    """What an official's personal link opens."""

    status: int
    body: str
    content_type: str = "text/html"
    filename: str = ""


class BulletinReading:
    """The read side of `BulletinService`, which sets these."""

    store: BulletinStore
    officials: OfficialStore
    subscriptions: SubscriptionStore
    audit: AuditLog
    links: Links
    secret: bytes

    # --- who may ----------------------------------------------------------------------------------

    async def _require(
        self, sender: Sender, roles: frozenset[SenderRole], action: str, **detail: Any
    ) -> None:
        if sender.role not in roles:
            await self.audit.record(actor=sender.name, action=action, outcome="forbidden", **detail)
            names = ", ".join(sorted(r.value for r in roles))
            raise NotPermitted(
                f"sender role '{sender.role.value}' may not {action.replace('_', ' ')}; {names} may"
            )

    async def _readable(self, sender: Sender, bulletin_id: str, action: str) -> Bulletin:
        bulletin = await self.store.get(bulletin_id)
        if bulletin is None:
            raise NotFound(f"bulletin: no bulletin '{bulletin_id}'")
        if bulletin.restricted:
            await self._require(sender, PUBLISHERS, action, bulletin=bulletin_id, tlp=bulletin.tlp.value)
        return bulletin

    # --- reading ----------------------------------------------------------------------------------

    async def view(self, bulletin: Bulletin, *, sent: dict[str, int] | None = None) -> dict[str, Any]:
        data = bulletin.to_dict()
        data["restricted"] = bulletin.restricted
        data["route"] = (
            "digest" if bulletin.digest_issue or bulletin.state is BulletinState.WAITING else "now"
        )
        data["sent_to"] = {
            channel.value: len(await self.store.sent_to(bulletin.id, channel))
            for channel in (Channel.EMAIL, Channel.SMS)
        }
        if sent is not None:
            data["queued"] = sent
        data["links"] = {
            "self": f"/v1/bulletins/{bulletin.id}",
            "stix": f"/v1/bulletins/{bulletin.id}/stix",
            "indicators_csv": f"/v1/bulletins/{bulletin.id}/indicators.csv",
            "access": f"/v1/bulletins/{bulletin.id}/access",
        }
        return data

    async def get(self, sender: Sender, bulletin_id: str) -> dict[str, Any]:
        bulletin = await self._readable(sender, bulletin_id, "bulletin_read")
        if bulletin.restricted:
            await self.store.log_access(bulletin_id, who=sender.name, kind="sender", what="api")
        return await self.view(bulletin)

    async def list(self, sender: Sender) -> list[dict[str, Any]]:
        """Every bulletin the sender may read, newest first (summary fields only)."""
        out = []
        for bulletin_id in await self.store.ids():
            bulletin = await self.store.get(bulletin_id)
            if bulletin is None or (bulletin.restricted and sender.role not in PUBLISHERS):
                continue
            out.append(
                {
                    "id": bulletin.id,
                    "title": bulletin.title,
                    "tlp": bulletin.tlp.value,
                    "severity": bulletin.severity.value,
                    "state": bulletin.state.value,
                    "author": bulletin.author,
                    "created": bulletin.created,
                    "links": {"self": f"/v1/bulletins/{bulletin.id}"},
                }
            )
        return out

    async def export(self, sender: Sender, bulletin_id: str, kind: str) -> str | dict[str, Any]:
        """The STIX 2.1 bundle ("stix") or the indicators CSV ("csv"); raises Gone once retracted."""
        bulletin = await self._readable(sender, bulletin_id, f"bulletin_{kind}_export")
        if bulletin.state is BulletinState.RETRACTED:
            raise Gone(f"bulletin: '{bulletin_id}' was retracted; its exports no longer work")
        if bulletin.restricted:
            await self.store.log_access(bulletin_id, who=sender.name, kind="sender", what=kind)
        if kind == "stix":
            bundle: dict[str, Any] = stix_bundle(bulletin)
            return bundle
        return indicators_csv(bulletin)

    async def access(self, sender: Sender, bulletin_id: str) -> dict[str, Any]:
        """Who opened and downloaded a bulletin (publishers and directors)."""
        await self._require(sender, PUBLISHERS, "bulletin_access_read", bulletin=bulletin_id)
        bulletin = await self.store.get(bulletin_id)
        if bulletin is None:
            raise NotFound(f"bulletin: no bulletin '{bulletin_id}'")
        entries = await self.store.access(bulletin_id)
        opened = sorted({e["who"] for e in entries if e["kind"] == "official" and e["what"] == "page"})
        downloaded = sorted({e["who"] for e in entries if e["kind"] == "official" and e["what"] != "page"})
        return {
            "bulletin": bulletin_id,
            "tlp": bulletin.tlp.value,
            "opened_by": opened,
            "downloaded_by": downloaded,
            "entries": entries,
        }

    # --- an official's personal link -------------------------------------------------------------------

    async def official_view(
        self, token: str, what: str = "page", *, now: float | None = None
    ) -> OfficialView:
        """The page (or an export: "stix", "csv") an official's personal link opens, with its status:
        403 for a bad or expired link or an official the label no longer allows, 410 once retracted."""
        now = time.time() if now is None else now
        try:
            bulletin_id, official_id = read_token(self.secret, token, now=now)
        except LinkError as error:
            return OfficialView(403, bulletin_gone_page_html(f"This link does not work: {error}."))
        bulletin = await self.store.get(bulletin_id)
        if bulletin is None:
            return OfficialView(404, bulletin_gone_page_html("There is no such bulletin."))
        if bulletin.state is BulletinState.RETRACTED:
            return OfficialView(
                410, bulletin_gone_page_html("This cyber bulletin was retracted: disregard it.")
            )
        official = (await self.officials.get_many([official_id])).get(official_id)
        left = await self.subscriptions.is_unsubscribed(MailingList.CYBER, official_id)
        if official is None or left or not bulletin.marking.allows(official):
            await self.audit.record(
                actor=f"official:{official_id}",
                action="bulletin_link_refused",
                outcome="forbidden",
                bulletin=bulletin_id,
            )
            return OfficialView(
                403, bulletin_gone_page_html("Its label no longer allows this bulletin to reach you.")
            )
        if bulletin.restricted:
            await self.store.log_access(bulletin_id, who=official_id, kind="official", what=what)
        shown = bulletin.visible_indicators(official)
        if what == "stix":
            return OfficialView(
                200,
                json.dumps(stix_bundle(bulletin, shown=shown)),
                "application/json",
                f"{bulletin.id}.stix.json",
            )
        if what == "csv":
            return OfficialView(
                200, indicators_csv(bulletin, shown=shown), "text/csv", f"{bulletin.id}-indicators.csv"
            )
        base = self.links.bulletin(token)
        html = bulletin_page_html(
            bulletin,
            shown,
            official_name=official.name,
            stix_link=f"{base}/stix",
            csv_link=f"{base}/indicators.csv",
        )
        return OfficialView(200, html)
