"""TcpProxy: forwards, cuts (refused + reset), restores on the same port, delays, drops answers on demand, and holds
a request back at a marker until released."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from smartslot_common.testing import wait_for
from smartslot_common.testing.faults import TcpProxy


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A tiny echo server on a free loopback port."""
    handlers: set[asyncio.Task] = set()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await asyncio.gather(*handlers, return_exceptions=True)
    await server.wait_closed()


async def _roundtrip(port: int, payload: bytes = b"ping") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_forwards_both_ways(echo_port: int) -> None:
    async with TcpProxy(0, "127.0.0.1", echo_port) as proxy:
        assert proxy.port != echo_port
        assert await _roundtrip(proxy.port, b"hello") == b"hello"
        assert proxy.connections == 1


async def test_cut_refuses_new_connections_and_resets_live_ones(echo_port: int) -> None:
    async with TcpProxy(0, "127.0.0.1", echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"a")
        assert await asyncio.wait_for(reader.readexactly(1), 5) == b"a"

        await proxy.cut()

        async def use_after_cut() -> None:
            writer.write(b"b")
            await writer.drain()
            await asyncio.wait_for(reader.readexactly(1), 5)

        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await use_after_cut()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)


async def test_restore_listens_again_on_the_same_port(echo_port: int) -> None:
    async with TcpProxy(0, "127.0.0.1", echo_port) as proxy:
        port = proxy.port
        await proxy.cut()
        await proxy.restore()
        assert proxy.port == port
        assert await _roundtrip(port) == b"ping"


async def test_delay_adds_latency_until_removed(echo_port: int) -> None:
    async with TcpProxy(0, "127.0.0.1", echo_port) as proxy:
        proxy.delay(0.2)
        started = time.monotonic()
        assert await _roundtrip(proxy.port) == b"ping"
        assert time.monotonic() - started >= 0.4  # once each way
        proxy.delay(0)
        started = time.monotonic()
        assert await _roundtrip(proxy.port) == b"ping"
        assert time.monotonic() - started < 0.2


async def test_drop_responses_forwards_the_request_but_resets_before_the_answer(echo_port: int) -> None:
    received: list[bytes] = []

    async def recorder(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(1024))
        writer.write(b"answer")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(recorder, "127.0.0.1", 0)
    try:
        async with TcpProxy(0, "127.0.0.1", server.sockets[0].getsockname()[1]) as proxy:
            proxy.drop_responses()
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"request")
            await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.read(1024), 5)
            except ConnectionError:
                answer = b""
            assert answer == b""  # the answer never arrives: the connection is reset (or closed) instead
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            assert received == [b"request"]
            await proxy.restore()
            assert await _roundtrip(echo_port) == b"ping"
    finally:
        server.close()
        await server.wait_closed()


async def test_stall_at_holds_back_the_request_with_the_marker_until_unstalled(echo_port: int) -> None:
    async with TcpProxy(0, "127.0.0.1", echo_port) as proxy:
        proxy.stall_at(b"COMMIT")
        assert await _roundtrip(proxy.port, b"SELECT 1") == b"SELECT 1"  # no marker: forwarded
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"UPDATE; COMMIT")
        await writer.drain()

        async def stalled() -> bool:
            return proxy.stalled

        await wait_for(stalled, 5, interval=0.01, what="the proxy to hold the request back")
        writer.write(b"; more")  # what follows on that connection waits behind it
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1024), 0.3)
        assert await _roundtrip(proxy.port, b"COMMIT") == b"COMMIT"  # once: other connections flow on

        proxy.unstall()
        assert await asyncio.wait_for(reader.readexactly(20), 5) == b"UPDATE; COMMIT; more"
        assert not proxy.stalled
        assert proxy.stalls == 1
        writer.close()
        await writer.wait_closed()


async def test_stall_at_sees_a_marker_split_between_two_chunks(echo_port: int) -> None:
    async with TcpProxy(0, "127.0.0.1", echo_port) as proxy:
        proxy.stall_at(b"MARKER")
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"xxMAR")
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"xxMAR"
        writer.write(b"KERyy")
        await writer.drain()

        async def stalled() -> bool:
            return proxy.stalled

        await wait_for(stalled, 5, interval=0.01, what="the proxy to hold the second chunk back")
        await proxy.restore()  # restore() releases a stall too
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"KERyy"
        writer.close()
        await writer.wait_closed()
