"""A service's shutdown does not wait for ever on the broker: closing the AMQP connection (and the outbox
publisher's channel) is given `CLOSE_SECONDS`, then the shutdown goes on and says so (`close_timed_out`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from smartslot_common.messaging import context

AMQP: web.AppKey[Any] = web.AppKey("amqp")


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


class UnansweredClose:
    """A connection whose close the broker never confirms."""

    def __init__(self) -> None:
        self.close_started = False

    @asynccontextmanager
    async def channel(self) -> AsyncIterator[object]:
        yield object()

    async def close(self) -> None:
        self.close_started = True
        await asyncio.Event().wait()


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(context, "log", recorder)
    monkeypatch.setattr(context, "CLOSE_SECONDS", 0.1)
    return recorder


async def test_a_close_never_confirmed_is_given_up_and_logged(logged: Recorder) -> None:
    await asyncio.wait_for(context.close_within(asyncio.Event().wait(), "a_channel"), 5)
    assert logged.lines == [("close_timed_out", {"what": "a_channel", "seconds": 0.1})]


async def test_a_close_that_ends_is_waited_for_and_not_logged(logged: Recorder) -> None:
    closed = []

    async def close() -> None:
        await asyncio.sleep(0)
        closed.append(True)

    await context.close_within(close(), "a_channel")
    assert closed == [True]
    assert logged.lines == []


async def test_the_app_shuts_down_when_the_broker_never_confirms_the_connection_close(
    logged: Recorder, monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = UnansweredClose()

    async def connect(url: str) -> UnansweredClose:
        return connection

    async def declare(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(context, "connect_amqp", connect)
    monkeypatch.setattr(context, "declare_topology", declare)
    app = web.Application()
    lifetime = context.amqp_context(AMQP, "amqp://broker", "test")(app)
    await anext(lifetime)
    assert app[AMQP] is connection

    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(lifetime), 5)

    assert connection.close_started
    assert logged.lines == [("close_timed_out", {"what": "amqp_connection", "seconds": 0.1})]
