"""The base application every service builds on: problem+json for every failure, request ids, RED metrics, logs."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import orjson
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from pydantic import BaseModel

from smartslot_common.http import ProblemError, create_base_app, json_response, read_json
from smartslot_common.http.middleware import server_span
from smartslot_common.logging import configure_logging

REQUEST_ID = "X-Request-ID"


class Note(BaseModel):
    text: str


async def show_item(request: web.Request) -> web.Response:
    return json_response({"id": request.match_info["id"]})


async def add_note(request: web.Request) -> web.Response:
    return json_response(await read_json(request, Note), status=201)


async def crash(_: web.Request) -> web.Response:
    raise RuntimeError("connection string postgresql://app:hunter2@db/prod broke")


async def database_down(request: web.Request) -> web.Response:
    """What a handler meets while PostgreSQL restarts: a refused connection, or a session ended mid-transaction
    whose rollback then fails on the closed connection."""
    if request.query.get("during") == "transaction":
        try:
            raise asyncpg.AdminShutdownError("terminating connection due to administrator command")
        except asyncpg.AdminShutdownError:
            raise asyncpg.InterfaceError("connection is closed") from None
    raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")


async def refuse(_: web.Request) -> web.Response:
    raise ProblemError(409, "slot_held", "Someone else holds it.")


async def moved(_: web.Request) -> web.Response:
    raise web.HTTPFound("/t-app/items/1")


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    app = create_base_app(max_body_bytes=1024)
    app.router.add_get("/t-app/items/{id}", show_item)
    app.router.add_post("/t-app/notes", add_note)
    app.router.add_get("/t-app/crash", crash)
    app.router.add_get("/t-app/refuse", refuse)
    app.router.add_get("/t-app/moved", moved)
    app.router.add_get("/t-app/database-down", database_down)
    async with TestClient(TestServer(app)) as client:
        yield client


Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def start_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], Lines]]:
    """Configure logging as a service does (in the test, so stdout is the test's) and read back its JSON lines.

    Every global it touches is put back afterwards.
    """
    root = logging.getLogger()
    saved = root.handlers[:], root.level, structlog.get_config()
    levels = {name: logging.getLogger(name).level for name in ("aiormq", "aio_pika", "asyncio")}

    def start() -> Lines:
        configure_logging("demo", "INFO")
        return lambda: [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]

    try:
        yield start
    finally:
        structlog.contextvars.clear_contextvars()
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)
        for name, noisy_level in levels.items():
            logging.getLogger(name).setLevel(noisy_level)


def _requests(route: str, method: str, status_class: str) -> float:
    labels = {"route": route, "method": method, "status_class": status_class}
    return REGISTRY.get_sample_value("smartslot_http_requests_total", labels) or 0.0


async def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == "application/problem+json"
    body = await response.json(content_type=None)
    assert (body["status"], body["code"]) == (status, code)
    return body


async def test_an_unknown_route_is_a_404_problem(client: TestClient) -> None:
    await _problem(await client.get("/t-app/nowhere"), 404, "not_found")


async def test_a_wrong_method_is_a_405_problem_that_lists_the_allowed_ones(client: TestClient) -> None:
    response = await client.delete("/t-app/items/1")

    body = await _problem(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD"}
    assert "GET" in body["detail"]


async def test_a_body_over_the_limit_is_a_413_problem(client: TestClient) -> None:
    assert (await client.post("/t-app/notes", json={"text": "x" * 900})).status == 201

    response = await client.post("/t-app/notes", json={"text": "x" * 2000})

    await _problem(response, 413, "payload_too_large")


async def test_a_problem_raised_by_a_handler_is_rendered_as_is(client: TestClient) -> None:
    body = await _problem(await client.get("/t-app/refuse"), 409, "slot_held")

    assert body["detail"] == "Someone else holds it."


async def test_an_unexpected_error_is_a_500_problem_without_internals_and_its_traceback_is_logged(
    client: TestClient, start_logging: Callable[[], Lines]
) -> None:
    logged_lines = start_logging()

    response = await client.get("/t-app/crash")

    body = await _problem(response, 500, "internal_error")
    raw = str(body)
    assert "Traceback" not in raw
    assert "hunter2" not in raw
    assert "RuntimeError" not in raw
    (error,) = [line for line in logged_lines() if line["event"] == "unhandled_error"]
    assert error["level"] == "error"
    assert error["request_id"] == response.headers[REQUEST_ID]
    assert error["path"] == "/t-app/crash"
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: connection string" in error["exception"]


@pytest.mark.parametrize("during", ["connect", "transaction"])
async def test_a_database_that_is_not_answering_is_a_503_to_try_again_not_a_500(
    client: TestClient, start_logging: Callable[[], Lines], during: str
) -> None:
    logged_lines = start_logging()

    response = await client.get("/t-app/database-down", params={"during": during})

    body = await _problem(response, 503, "upstream_unavailable")
    assert response.headers["Retry-After"] == "1"
    assert "Traceback" not in str(body)
    events = [line["event"] for line in logged_lines()]
    assert "dependency_unreachable" in events
    assert "unhandled_error" not in events


async def test_each_request_is_logged_once_with_its_route_status_and_request_id(
    client: TestClient, start_logging: Callable[[], Lines]
) -> None:
    logged_lines = start_logging()

    response = await client.get("/t-app/items/42", headers={REQUEST_ID: "trace-me-42"})
    await client.get("/healthz")

    (line,) = [line for line in logged_lines() if line["event"] == "request"]  # probes are not logged
    assert (line["method"], line["route"], line["status"]) == ("GET", "/t-app/items/{id}", 200)
    assert line["request_id"] == "trace-me-42" == response.headers[REQUEST_ID]
    assert line["duration_ms"] >= 0


async def test_a_sane_request_id_from_the_caller_is_echoed(client: TestClient) -> None:
    response = await client.get("/t-app/items/1", headers={REQUEST_ID: "req-2025-03-30-abc"})

    assert response.headers[REQUEST_ID] == "req-2025-03-30-abc"


@pytest.mark.parametrize("sent", [None, "", "x" * 129])
async def test_a_missing_or_unreasonable_request_id_is_replaced_by_a_fresh_one(
    client: TestClient, sent: str | None
) -> None:
    headers = {REQUEST_ID: sent} if sent is not None else {}

    first = await client.get("/t-app/items/1", headers=headers)
    second = await client.get("/t-app/items/1", headers=headers)

    assert re.fullmatch(r"[0-9a-f]{32}", first.headers[REQUEST_ID])
    assert first.headers[REQUEST_ID] != second.headers[REQUEST_ID]


async def test_problems_carry_the_request_id_too(client: TestClient) -> None:
    response = await client.get("/t-app/nowhere", headers={REQUEST_ID: "lost-42"})

    assert response.headers[REQUEST_ID] == "lost-42"


async def test_requests_are_counted_by_route_template_and_status_class_not_by_raw_path(client: TestClient) -> None:
    template = "/t-app/items/{id}"
    before = _requests(template, "GET", "2xx")

    for item in ("1", "2", "3"):
        assert (await client.get(f"/t-app/items/{item}")).status == 200

    assert _requests(template, "GET", "2xx") == before + 3
    assert REGISTRY.get_sample_value("smartslot_http_requests_total", {
        "route": "/t-app/items/1", "method": "GET", "status_class": "2xx"
    }) is None
    duration_count = REGISTRY.get_sample_value(
        "smartslot_http_request_duration_seconds_count", {"route": template, "method": "GET"}
    )
    assert duration_count is not None
    assert duration_count >= 3


async def test_errors_are_counted_in_their_status_class_and_unknown_paths_under_one_label(client: TestClient) -> None:
    crashes, unmatched = _requests("/t-app/crash", "GET", "5xx"), _requests("unmatched", "GET", "4xx")

    await client.get("/t-app/crash")
    await client.get("/t-app/no/such/path/9f8e7d")

    assert _requests("/t-app/crash", "GET", "5xx") == crashes + 1
    assert _requests("unmatched", "GET", "4xx") == unmatched + 1


async def test_a_raised_redirect_is_counted_as_3xx_and_keeps_its_request_id(client: TestClient) -> None:
    redirects, errors = _requests("/t-app/moved", "GET", "3xx"), _requests("/t-app/moved", "GET", "5xx")

    response = await client.get("/t-app/moved", allow_redirects=False, headers={REQUEST_ID: "hop-1"})

    assert (response.status, response.headers["Location"]) == (302, "/t-app/items/1")
    assert response.headers[REQUEST_ID] == "hop-1"
    assert _requests("/t-app/moved", "GET", "3xx") == redirects + 1
    assert _requests("/t-app/moved", "GET", "5xx") == errors


async def test_a_callers_trace_is_continued_into_problems_and_log_lines(
    client: TestClient, start_logging: Callable[[], Lines]
) -> None:
    logged_lines = start_logging()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"

    response = await client.get("/t-app/refuse", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})

    assert (await _problem(response, 409, "slot_held"))["trace_id"] == trace_id
    (line,) = [line for line in logged_lines() if line["event"] == "request"]
    assert line["trace_id"] == trace_id
    assert line["span_id"] != "00f067aa0ba902b7"  # the request's own span, child of the caller's


@pytest.mark.parametrize("traceparent", [None, "00-not-a-trace-01", f"00-{'0' * 32}-00f067aa0ba902b7-01"])
async def test_without_a_usable_traceparent_each_request_starts_a_trace_of_its_own(
    client: TestClient, traceparent: str | None
) -> None:
    headers = {"traceparent": traceparent} if traceparent else {}

    first = await (await client.get("/t-app/refuse", headers=headers)).json(content_type=None)
    second = await (await client.get("/t-app/refuse", headers=headers)).json(content_type=None)

    assert re.fullmatch(r"[0-9a-f]{32}", first["trace_id"])
    assert first["trace_id"] not in (second["trace_id"], "0" * 32)


def test_the_request_span_keeps_the_callers_sampling_decision_and_trace_state() -> None:
    span = server_span({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                        "tracestate": "vendor=abc"})

    context = span.get_span_context()
    assert (context.trace_id, context.trace_flags.sampled) == (0x4BF92F3577B34DA6A3CE929D0E0E4736, True)
    assert context.trace_state.get("vendor") == "abc"
    assert context.span_id not in (0, 0x00F067AA0BA902B7)
    assert not span.is_recording()
