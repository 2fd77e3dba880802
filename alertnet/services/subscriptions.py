"""An official's own unsubscribe link: the page (GET), RFC 8058 one-click (POST), subscribing again."""

from __future__ import annotations

from alertnet.domain.subscriptions import MailingList, TokenError, read_list_token
from alertnet.services.errors import NotFound
from alertnet.store.audit import AuditLog
from alertnet.store.digest import SubscriptionStore

LIST_TITLES = {
    MailingList.DIGEST: "Weekly School Safety Update",
    MailingList.CYBER: "Cyber threat bulletins",
}


class SubscriptionService:
    """An official's own unsubscribe link: the page (GET), one-click (RFC 8058 POST), subscribing again."""

    def __init__(self, subscriptions: SubscriptionStore, audit: AuditLog, secret: bytes) -> None:
        self.subscriptions = subscriptions
        self.audit = audit
        self.secret = secret

    def _read(self, token: str) -> tuple[MailingList, str]:
        try:
            return read_list_token(self.secret, token)
        except TokenError as error:
            raise NotFound(f"token: {error}") from None

    def list_title(self, token: str) -> str:
        """What the token's list is called on its page. Raises NotFound."""
        return LIST_TITLES[self._read(token)[0]]

    async def is_subscribed(self, token: str) -> bool:
        """Raises NotFound for a token the hub did not make."""
        mailing_list, official_id = self._read(token)
        return not await self.subscriptions.is_unsubscribed(mailing_list, official_id)

    async def unsubscribe(self, token: str) -> None:
        """Leave the token's list, at once; a second time changes nothing. Raises NotFound."""
        mailing_list, official_id = self._read(token)
        if await self.subscriptions.unsubscribe(mailing_list, official_id):
            await self.audit.record(
                actor=f"official:{official_id}",
                action="unsubscribe",
                outcome="accepted",
                list=mailing_list.value,
            )

    async def resubscribe(self, token: str) -> None:
        mailing_list, official_id = self._read(token)
        if await self.subscriptions.resubscribe(mailing_list, official_id):
            await self.audit.record(
                actor=f"official:{official_id}",
                action="resubscribe",
                outcome="accepted",
                list=mailing_list.value,
            )
