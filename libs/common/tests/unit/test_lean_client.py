"""The lean HTTP/1.1 client against a real local aiohttp server: statuses, bodies (sized and chunked), the headers it
keeps, keep-alive reuse, a bound on connections in use, and failures (refused, closed early, timed out) raised for
the caller to handle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httptools
import pytest
import uvloop
from aiohttp import web

from smartslot_common.http.lean_client import LeanClient, ServerDisconnected, _Connection, _Slots, encode, split_url
from smartslot_common.testing import wait_for
from smartslot_common.testing.processes import free_port

HELD = b'{"code":"slot_held","status":409}'


async def _chunked(_: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(_)
    for part in (b"first,", b"second,", b"third"):
        await response.write(part)
    await response.write_eof()
    return response


def _app(never: asyncio.Event) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        seen = f"{request.method} {request.path_qs} {request.headers.get('X-Who', '-')} {len(body)}"
        return web.Response(text=seen, headers={"X-Body": body.decode() or "-"})

    async def held(_: web.Request) -> web.Response:
        return web.Response(status=409, body=HELD, content_type="application/problem+json")

    async def closing(_: web.Request) -> web.Response:
        return web.Response(text="bye", headers={"Connection": "close"})

    async def stuck(_: web.Request) -> web.Response:
        await never.wait()  # the server never answers: the client's timeout must end the request
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/v1/holds", held)
    app.router.add_get("/chunked", _chunked)
    app.router.add_get("/closing", closing)
    app.router.add_get("/stuck", stuck)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@asynccontextmanager
async def serving() -> AsyncIterator[str]:
    """The test server's base URL while it runs."""
    never = asyncio.Event()
    runner = web.AppRunner(_app(never), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        never.set()
        await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async with serving() as url:
        yield url


async def test_status_and_body_come_back_for_success_and_refusal(server: str) -> None:
    async with LeanClient() as client:
        read = await client.request("GET", server + "/v1/availability?day=1")
        assert read == (200, b"GET /v1/availability?day=1 - 0")
        assert await client.request("POST", server + "/v1/holds", b'{"slot_id": "s"}') == (409, HELD)


async def test_an_answer_carries_the_headers_the_client_keeps_under_the_names_it_was_given(server: str) -> None:
    async with LeanClient(keep_headers=("Content-Type", "x-body")) as client:
        answer = await client.exchange(client.prepare("POST", server + "/v1/holds", b"{}"))
        assert (answer.status, answer.body) == (409, HELD)
        assert answer.headers == {"Content-Type": "application/problem+json"}
        echoed = await client.exchange(client.prepare("POST", server + "/echo", b"payload"))
        assert echoed.headers == {"Content-Type": "text/plain; charset=utf-8", "x-body": "payload"}


async def test_connections_in_use_are_bounded_and_the_rest_wait_for_one(server: str) -> None:
    async with LeanClient(max_connections=2) as client:
        answers = await asyncio.gather(*(client.request("GET", f"{server}/n{n}") for n in range(12)))
        assert [status for status, _ in answers] == [200] * 12
        assert client.connections_opened == 2


async def test_waiting_for_a_connection_counts_against_the_timeout(server: str) -> None:
    async with LeanClient(max_connections=1) as client:
        stuck = asyncio.ensure_future(client.exchange(client.prepare("GET", server + "/stuck"), timeout=5))

        async def holding_the_one_connection() -> bool:
            return client.connections_opened == 1

        await wait_for(holding_the_one_connection, 5, interval=0.01, what="the stuck request's connection")
        with pytest.raises(TimeoutError):
            await client.exchange(client.prepare("GET", server + "/queued"), timeout=0.2)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck


def test_a_line_break_in_a_header_is_refused_rather_than_sent() -> None:
    with pytest.raises(ValueError, match="line break"):
        encode("GET", ("127.0.0.1", 80), "/", headers={"X-Who": "a\r\nX-SmartSlot-User-Role: admin"})


async def test_headers_body_and_query_parameters_are_sent_as_given(server: str) -> None:
    async with LeanClient() as client:
        status, body = await client.request("POST", server + "/v1/appointments", b'{"a": 1}',
                                            headers={"X-Who": "client-7"}, params={"from": "2030-01-01T00:00:00+00:00"})

    assert status == 200
    assert body == b"POST /v1/appointments?from=2030-01-01T00:00:00%2B00:00 client-7 8"


async def test_a_chunked_body_is_joined(server: str) -> None:
    async with LeanClient() as client:
        assert await client.request("GET", server + "/chunked") == (200, b"first,second,third")


async def test_sequential_requests_reuse_one_connection(server: str) -> None:
    async with LeanClient() as client:
        prepared = client.prepare("GET", server + "/again")
        answers = [await client.send(prepared) for _ in range(20)]

        assert answers == [(200, b"GET /again - 0")] * 20
        assert client.connections_opened == 1


async def test_concurrent_requests_open_connections_only_while_none_is_idle(server: str) -> None:
    async with LeanClient() as client:
        answers = await asyncio.gather(*(client.request("GET", f"{server}/n{n}") for n in range(5)))
        assert [status for status, _ in answers] == [200] * 5
        assert client.connections_opened == 5
        assert client.idle_connections == 5

        for n in range(10):
            await client.request("GET", f"{server}/later{n}")
        assert client.connections_opened == 5


async def test_idle_connections_beyond_the_cap_are_closed(server: str) -> None:
    async with LeanClient(max_idle=2) as client:
        await asyncio.gather(*(client.request("GET", f"{server}/n{n}") for n in range(6)))

        assert client.connections_opened == 6
        assert client.idle_connections == 2


async def test_a_connection_the_server_closes_is_not_reused(server: str) -> None:
    async with LeanClient() as client:
        assert await client.request("GET", server + "/closing") == (200, b"bye")
        assert client.idle_connections == 0
        assert await client.request("GET", server + "/after") == (200, b"GET /after - 0")
        assert client.connections_opened == 2


async def test_a_refused_connection_raises() -> None:
    async with LeanClient() as client:
        with pytest.raises(ConnectionRefusedError):
            await client.request("GET", f"http://127.0.0.1:{free_port()}/")


async def test_a_connection_lost_before_its_request_is_sent_is_a_disconnect_not_a_crash() -> None:
    # A server killed with connections still in its accept queue resets them just after they connected: the loss
    # can land between the connect and the request (it did, as a 500 in the gateway, when booking was killed).
    connection = _Connection(asyncio.get_running_loop(), {})
    connection.connection_lost(ConnectionResetError(104, "Connection reset by peer"))
    with pytest.raises(ServerDisconnected, match="before the request was sent"):
        await connection.exchange(b"GET / HTTP/1.1\r\nHost: h:1\r\n\r\n", 1.0)
    assert not connection.reusable


async def test_a_request_without_an_answer_times_out_and_the_client_goes_on(server: str) -> None:
    async with LeanClient(timeout=0.2) as client:
        with pytest.raises(TimeoutError):
            await client.request("GET", server + "/stuck")
        assert client.idle_connections == 0  # its connection may still get the late answer: dropped
        assert await client.request("GET", server + "/next") == (200, b"GET /next - 0")


@asynccontextmanager
async def raw_server(answer: bytes, hang_up: bool) -> AsyncIterator[str]:
    """A TCP server that reads one request, writes `answer` and then hangs up or stays silent; its base URL."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        if hang_up:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with listener:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
        for writer in writers:
            writer.close()
            await writer.wait_closed()


async def test_a_server_that_closes_before_answering_is_a_disconnect() -> None:
    async with raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", hang_up=True) as url, \
            LeanClient() as client:
        with pytest.raises(ServerDisconnected):
            await client.request("GET", url)


async def test_garbage_instead_of_http_is_a_failure_not_a_wait() -> None:
    async with raw_server(b"SMTP ready\r\n\r\n", hang_up=False) as url, LeanClient() as client:
        with pytest.raises(httptools.HttpParserError):
            await client.request("GET", url)


def test_urls_split_into_origin_and_target() -> None:
    assert split_url("http://127.0.0.1:8080/v1/holds?x=1") == (("127.0.0.1", 8080), "/v1/holds?x=1")
    assert split_url("http://localhost:9") == (("localhost", 9), "/")
    with pytest.raises(ValueError, match="http://"):
        split_url("https://example.com/")


def test_a_request_is_encoded_once_with_host_headers_and_length() -> None:
    raw = encode("POST", ("127.0.0.1", 81), "/v1/holds", b"{}", {"Authorization": "Bearer t"})
    assert raw == (b"POST /v1/holds HTTP/1.1\r\nHost: 127.0.0.1:81\r\nAuthorization: Bearer t\r\n"
                   b"Content-Length: 2\r\n\r\n{}")
    assert encode("GET", ("h", 1), "/") == b"GET / HTTP/1.1\r\nHost: h:1\r\n\r\n"


def test_the_client_works_the_same_on_uvloop_the_driver_s_loop() -> None:
    async def exercise() -> None:
        async with serving() as url:
            await test_status_and_body_come_back_for_success_and_refusal(url)
            await test_a_chunked_body_is_joined(url)
            await test_sequential_requests_reuse_one_connection(url)
            await test_a_connection_the_server_closes_is_not_reused(url)
            await test_a_request_without_an_answer_times_out_and_the_client_goes_on(url)
        await test_a_refused_connection_raises()
        await test_a_server_that_closes_before_answering_is_a_disconnect()

    uvloop.run(exercise())


async def test_waiters_for_a_connection_get_it_in_arrival_order_and_one_that_gives_up_passes_its_turn() -> None:
    slots = _Slots(1)
    assert slots.take_now()
    assert not slots.take_now()
    loop = asyncio.get_running_loop()
    order: list[str] = []

    async def waiting(name: str, seconds: float) -> None:
        await slots.take(loop.time() + seconds)
        order.append(name)
        slots.give_back()

    first = asyncio.ensure_future(waiting("first", 5))
    impatient = asyncio.ensure_future(waiting("impatient", 0.05))
    last = asyncio.ensure_future(waiting("last", 5))
    with pytest.raises(TimeoutError):
        await impatient
    slots.give_back()
    await asyncio.gather(first, last)
    assert order == ["first", "last"]
    assert slots.free == 1


async def test_a_waiter_cancelled_as_it_is_handed_the_connection_hands_it_on() -> None:
    slots = _Slots(1)
    assert slots.take_now()
    loop = asyncio.get_running_loop()
    cancelled = asyncio.ensure_future(slots.take(loop.time() + 5))
    await asyncio.sleep(0)  # it waits
    slots.give_back()  # handed to it ...
    cancelled.cancel()  # ... as it is cancelled, before it ran again
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert slots.free == 1  # not lost
    assert slots.take_now()
