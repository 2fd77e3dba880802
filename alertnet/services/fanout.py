"""The one fan-out step every kind of message goes through: plan its batches, then record the message,
its deliveries and jobs (and whatever its kind adds) in one Redis transaction.

Admission is each kind's own (an alert is authorized, validated, resolved to officials and signed before
it is rendered, since its verification code is in every message); sending is this step, whatever the kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from alertnet.domain.messages import Channel, Message
from alertnet.pipeline.batches import QUEUE_FOR_PRIORITY, batch_sizes, plan_batches
from alertnet.pipeline.enqueue import Dispatcher, Guard, Stage
from alertnet.settings import Settings


class FanOut:
    def __init__(self, settings: Settings, dispatcher: Dispatcher) -> None:
        self.settings = settings
        self.dispatcher = dispatcher

    async def send(
        self,
        message: Message,
        recipients: Mapping[Channel, Sequence[str]],
        *,
        also: Sequence[Stage] = (),
    ) -> dict[str, int]:
        """Queue `message` to the officials with these ids on each channel, on its priority's queues.

        `also` adds writes to the same transaction. Returns how many deliveries each channel got.
        """
        slots = {channel.value: list(ids) for channel, ids in recipients.items()}
        queue = QUEUE_FOR_PRIORITY[message.priority]
        batches = plan_batches(message.id, slots, batch_sizes(self.settings), queue)
        await asyncio.to_thread(self.dispatcher.fan_out, message, slots, batches, also=also)
        return {slot: len(ids) for slot, ids in slots.items()}

    async def send_once(
        self,
        messages: Sequence[tuple[Message, Mapping[Channel, Sequence[str]]]],
        *,
        guard: Guard,
        also: Sequence[Stage] = (),
    ) -> bool:
        """Queue several messages (the editions of one digest issue) in one transaction, only while
        `guard` holds (e.g. the issue is still unsent). False, with nothing written, when it did not."""
        sizes = batch_sizes(self.settings)
        parts = []
        for message, recipients in messages:
            slots = {channel.value: list(ids) for channel, ids in recipients.items()}
            queue = QUEUE_FOR_PRIORITY[message.priority]
            parts.append((message, slots, plan_batches(message.id, slots, sizes, queue)))
        return await asyncio.to_thread(self.dispatcher.fan_out_guarded, parts, guard=guard, also=also)
