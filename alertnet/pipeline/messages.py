"""The message behind a batch, as a worker sends it: loaded once per process, old records upgraded."""

from __future__ import annotations

from alertnet.content.alerts import alert_message
from alertnet.domain.alerts import Alert
from alertnet.domain.links import Links
from alertnet.domain.messages import Message
from alertnet.store.alerts import AlertStore
from alertnet.store.messages import MessageStore

CACHED_MESSAGES = 64


class MessageLoader:
    """Messages by id, cached (a message never changes once sent).

    An alert sent by a version before messages were stored has only its signed record: its message is
    rendered from that record, so batches and escalation timers queued before an upgrade still send.
    """

    def __init__(self, messages: MessageStore, alerts: AlertStore, links: Links) -> None:
        self.messages = messages
        self.alerts = alerts
        self.links = links
        self._cache: dict[str, Message] = {}

    async def get(self, message_id: str) -> Message | None:
        found = self._cache.get(message_id)
        if found is None:
            found = await self.messages.get(message_id)
            if found is None:
                record = await self.alerts.get_record(message_id)
                if record is None:
                    return None
                alert = Alert.from_dict(record["alert"])
                found = alert_message(alert, code=str(record["code"]), link=self.links.alert_page(alert.id))
            self._cache[message_id] = found
            while len(self._cache) > CACHED_MESSAGES:
                self._cache.pop(next(iter(self._cache)))
        return found
