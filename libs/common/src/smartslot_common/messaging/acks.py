"""Acknowledging applied messages with as few `multiple` acks as possible while batches finish out of order.

A `multiple` ack settles every outstanding message of the channel up to its delivery tag, so it may only name a tag
below which nothing is still being applied. Messages are tracked in delivery order per channel; when a batch is
applied, the run of settled messages at the front of the channel's line is acknowledged with one `multiple` ack on
the highest applied one. Messages settled one by one (retried, dead-lettered, put back) leave the line too, but
their tags are never named again.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable

from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ChannelInvalidStateError

from smartslot_common.messaging.deliveries import settle

_IN_HAND, _APPLIED, _SETTLED = "in hand", "applied", "settled"


class Acknowledgements:
    """Which delivered messages are still in hand, and the acks that settle the applied ones."""

    def __init__(self) -> None:
        # Per channel, the messages in hand ordered by delivery tag (they arrive in that order; kept sorted anyway,
        # since a multiple ack relies on it).
        self._lines: dict[int, list[tuple[int, AbstractIncomingMessage]]] = {}
        self._states: dict[int, str] = {}
        self._channels: dict[int, int] = {}

    def received(self, message: AbstractIncomingMessage) -> None:
        """Track a message as it is delivered."""
        try:
            channel = id(message.channel)
        except ChannelInvalidStateError:
            return  # its channel is gone: the broker puts it back in the queue, nothing can settle it here
        insort(self._lines.setdefault(channel, []), (message.delivery_tag or 0, message), key=_tag)
        self._states[id(message)] = _IN_HAND
        self._channels[id(message)] = channel

    async def settled(self, message: AbstractIncomingMessage) -> None:
        """The message was acknowledged, rejected or put back on its own (applied ones behind it may now go)."""
        await self._mark([message], _SETTLED)

    async def applied(self, messages: Iterable[AbstractIncomingMessage]) -> None:
        """These messages are applied: acknowledge them, together with any others the acks may now cover."""
        await self._mark(messages, _APPLIED)

    async def _mark(self, messages: Iterable[AbstractIncomingMessage], state: str) -> None:
        channels = set()
        for message in messages:
            if id(message) in self._states:
                self._states[id(message)] = state
                channels.add(self._channels[id(message)])
        for channel in channels:
            last = self._release(channel)
            if last is not None:
                # No await between choosing the tag and sending the ack: acks leave in the order they are chosen.
                await settle(last.ack(multiple=True))

    def forget(self) -> None:
        """Drop every message in hand (the channel closed: the broker redelivers them)."""
        self._lines.clear()
        self._states.clear()
        self._channels.clear()

    def _release(self, channel: int) -> AbstractIncomingMessage | None:
        """Take the settled run off the front of the channel's line; the highest applied message of it, if any."""
        line = self._lines.get(channel)
        if not line:
            return None
        last = None
        settled = 0
        for _, message in line:
            state = self._states[id(message)]
            if state == _IN_HAND:
                break
            if state == _APPLIED:
                last = message
            del self._states[id(message)], self._channels[id(message)]
            settled += 1
        del line[:settled]
        if not line:
            del self._lines[channel]
        return last


def _tag(entry: tuple[int, AbstractIncomingMessage]) -> int:
    return entry[0]
