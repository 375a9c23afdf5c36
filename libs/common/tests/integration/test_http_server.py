"""Requests aiohttp's parser refuses, sent over a real socket to an app served the way every service is: the answer
is a problem+json with the status that names the fault (414, 431, 400), never a plain-text 400."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from smartslot_common.http import create_base_app, json_response
from smartslot_common.http.server import MAX_HEADER_FIELD_BYTES, MAX_HEADERS, MAX_REQUEST_LINE_BYTES, serve
from smartslot_common.testing.processes import free_port
from smartslot_common.testing.waiting import wait_for

pytestmark = pytest.mark.integration


async def _hello(_: web.Request) -> web.Response:
    return json_response({"hello": "world"})


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@pytest.fixture
async def port() -> AsyncIterator[int]:
    """A served app's port, on 127.0.0.1."""
    app = create_base_app()
    app.router.add_get("/hello", _hello)
    chosen = free_port()
    serving = asyncio.create_task(serve(app, "127.0.0.1", chosen, handle_signals=False))
    await wait_for(lambda: _accepts(chosen), what="the app to listen")
    yield chosen
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)


async def _exchange(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send raw bytes; the status line, headers and body of the answer (the server closes the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status_line, headers, body


def _request(target: str = "/hello", headers: tuple[str, ...] = ()) -> bytes:
    return "\r\n".join([f"GET {target} HTTP/1.1", "Host: localhost", *headers, "", ""]).encode()


def _problem(headers: dict[str, str], body: bytes) -> dict[str, object]:
    assert headers["content-type"].startswith("application/problem+json")
    problem = orjson.loads(body)
    assert isinstance(problem, dict)
    return problem


async def test_a_request_line_over_the_limit_is_a_414_problem(port: int) -> None:
    status, headers, body = await _exchange(port, _request("/hello?q=" + "a" * MAX_REQUEST_LINE_BYTES))

    assert status.split(" ", 2)[1] == "414"
    problem = _problem(headers, body)
    assert problem["status"] == 414
    assert problem["code"] == "uri_too_long"
    assert problem["title"] == "URI too long"


async def test_a_header_over_the_limit_is_a_431_problem(port: int) -> None:
    status, headers, body = await _exchange(port, _request(headers=("X-Big: " + "b" * (MAX_HEADER_FIELD_BYTES + 1),)))

    assert status.split(" ", 2)[1] == "431"
    problem = _problem(headers, body)
    assert problem["status"] == 431
    assert problem["code"] == "header_fields_too_large"


async def test_a_header_name_over_the_limit_is_a_431_problem(port: int) -> None:
    status, headers, body = await _exchange(port, _request(headers=("X-" + "n" * MAX_HEADER_FIELD_BYTES + ": 1",)))

    assert status.split(" ", 2)[1] == "431"
    assert _problem(headers, body)["code"] == "header_fields_too_large"


async def test_too_many_headers_is_a_431_problem(port: int) -> None:
    many = tuple(f"X-Header-{index}: {index}" for index in range(MAX_HEADERS + 1))

    status, headers, body = await _exchange(port, _request(headers=many))

    assert status.split(" ", 2)[1] == "431"
    assert _problem(headers, body)["detail"] == f"The request has more than {MAX_HEADERS} headers."


async def test_a_request_that_is_not_http_is_a_400_problem(port: int) -> None:
    status, headers, body = await _exchange(port, b"HELLO THERE\r\n\r\n")

    assert status.split(" ", 2)[1] == "400"
    assert _problem(headers, body)["code"] == "malformed_request"


async def test_long_lines_within_the_limits_are_served(port: int) -> None:
    target = "/hello?q=" + "a" * (MAX_REQUEST_LINE_BYTES - 100)
    long_header = "X-Big: " + "b" * (MAX_HEADER_FIELD_BYTES - 100)

    status, headers, body = await _exchange(port, _request(target, (long_header, "Connection: close")))

    assert status.split(" ", 2)[1] == "200"
    assert headers["content-type"].startswith("application/json")
    assert orjson.loads(body) == {"hello": "world"}
