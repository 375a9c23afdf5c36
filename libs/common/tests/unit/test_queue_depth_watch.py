"""The queue-depth watch of a consumer ends when it is cancelled, even when the cancellation reaches it as a broker
error (aio-pika, cancelled while opening a channel, can answer with an error of its own): seen in CI as a waitlist
shutdown that waited for ever on a watch gone back to sleep."""

from __future__ import annotations

import asyncio

import pytest

from smartslot_common.messaging.consumer import EventConsumer
from smartslot_common.testing import wait_for


class Measuring:
    """Stands in for `measure_queue_depth`: waits on the broker, and answers a cancellation with a RuntimeError."""

    def __init__(self) -> None:
        self.started = 0

    async def __call__(self) -> None:
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("channel closed") from None


async def test_a_cancelled_watch_ends_even_when_the_cancellation_comes_back_as_a_broker_error() -> None:
    consumer = EventConsumer.__new__(EventConsumer)  # only the watch is exercised here
    measuring = Measuring()
    consumer.measure_queue_depth = measuring  # type: ignore[method-assign]
    watch = asyncio.ensure_future(consumer._watch_queue_depth())

    async def measuring_started() -> bool:
        return measuring.started == 1

    await wait_for(measuring_started, 5, interval=0.01, what="the watch's first measurement")
    watch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(watch, 5)
