"""Batches: a message's deliveries split per channel into rq jobs, the queue each goes to, and their sizes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alertnet.domain.messages import Channel, Priority
from alertnet.settings import Settings
from alertnet.store import keys as k

CHANNEL_ORDER = {"sms": 0, "email": 1, "voice": 2}
QUEUE_FOR_PRIORITY = {
    Priority.CRITICAL: k.QUEUE_CRITICAL,
    Priority.HIGH: k.QUEUE_HIGH,
    Priority.NOTICE: k.QUEUE_NOTICE,
    Priority.BULK: k.QUEUE_BULK,
}
# A batch on a paced channel holds its worker for about this long at most, so a later alert's batches
# never wait long for a worker (a call-out at one call a second would otherwise hold one for minutes).
PACED_BATCH_SECONDS = 5.0


@dataclass(frozen=True)
class Batch:
    id: str
    message_id: str  # stored as "alert_id": batches queued by earlier versions still read
    channel: str
    official_ids: tuple[str, ...]
    queue: str
    requeues: int = 0
    job_id: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "alert_id": self.message_id,
                "channel": self.channel,
                "ids": list(self.official_ids),
                "queue": self.queue,
                "requeues": self.requeues,
                "job_id": self.job_id or self.id,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, batch_id: str, raw: str | bytes) -> Batch:
        data = json.loads(raw)
        return cls(
            id=batch_id,
            message_id=data["alert_id"],
            channel=data["channel"],
            official_ids=tuple(data["ids"]),
            queue=data["queue"],
            requeues=int(data.get("requeues", 0)),
            job_id=data.get("job_id", batch_id),
        )


def plan_batches(
    message_id: str,
    recipients: Mapping[str, Sequence[str]],
    sizes: Mapping[str, int],
    queue: str,
    tag: str = "",
) -> list[Batch]:
    """Split each channel's recipients into batches: SMS first (read soonest), then email, then calls,
    which go to the calls queue unless the whole send is bulk (see `batch_queue`)."""
    order = sorted(recipients, key=lambda c: CHANNEL_ORDER.get(c.split("@")[0], 9))
    batches: list[Batch] = []
    for channel in order:
        ids = list(recipients[channel])
        size = max(1, sizes.get(channel, sizes.get(channel.split("@")[0], 500)))
        for n, start in enumerate(range(0, len(ids), size)):
            batches.append(
                Batch(
                    f"{message_id}-{channel.replace('@', '_w')}-{tag}{n}",
                    message_id,
                    channel,
                    tuple(ids[start : start + size]),
                    batch_queue(queue, channel),
                )
            )
    return batches


def batch_queue(queue: str, slot: str) -> str:
    """The queue of a batch of `slot` ("sms", "voice@2", ...) for a send on `queue`."""
    if slot.split("@")[0] == "voice" and queue != k.QUEUE_BULK:
        return k.QUEUE_CALLS
    return queue


def batch_sizes(settings: Settings) -> dict[str, int]:
    """Deliveries per batch for each channel: the configured sizes, smaller where a rate paces them."""
    pipeline, twilio = settings.pipeline, settings.twilio
    sms, voice = pipeline.sms_batch, pipeline.voice_batch
    if twilio.sms_rate_per_sender > 0:
        per_second = twilio.sms_rate_per_sender * len(twilio.sms_from)
        sms = min(sms, max(1, int(per_second * PACED_BATCH_SECONDS)))
    if twilio.calls_per_second > 0:
        voice = min(voice, max(1, int(twilio.calls_per_second * PACED_BATCH_SECONDS)))
    return {Channel.SMS.value: sms, Channel.VOICE.value: voice, Channel.EMAIL.value: pipeline.email_batch}
