"""Logs as an operator reads them: one JSON object per stdout line, request and trace ids on it, no secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from smartslot_common.logging import REDACTED, configure_logging, get_logger

Lines = Callable[[], list[dict[str, Any]]]
StartLogging = Callable[..., Lines]
NOISY = ("aiormq", "aio_pika", "asyncio")


@pytest.fixture
def start_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[StartLogging]:
    """Configure logging as a service does (in the test, so stdout is the test's) and read back the lines.

    Every global it touches is put back afterwards.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_noisy = {name: logging.getLogger(name).level for name in NOISY}
    saved_structlog = structlog.get_config()

    def start(level: str = "DEBUG") -> Lines:
        configure_logging("demo", level)

        def lines() -> list[dict[str, Any]]:
            return [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]  # each line one object

        return lines

    try:
        yield start
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.configure(**saved_structlog)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_noisy.items():
            logging.getLogger(name).setLevel(level)


def test_each_event_is_one_json_object_per_line_with_service_level_logger_and_time(start_logging: StartLogging) -> None:
    logged_lines = start_logging()
    log = get_logger("booking.handlers")

    log.info("slot_held", slot_id="s-1", seats=2)
    log.warning("multi\nline\nmessage")

    first, second = logged_lines()
    assert first["event"] == "slot_held"
    assert (first["slot_id"], first["seats"]) == ("s-1", 2)
    assert (first["service"], first["level"], first["logger"]) == ("demo", "info", "booking.handlers")
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "multi\nline\nmessage"


def test_the_request_id_bound_in_context_is_on_every_line(start_logging: StartLogging) -> None:
    logged_lines = start_logging()
    structlog.contextvars.bind_contextvars(request_id="req-42")

    get_logger("x").info("one")
    logging.getLogger("aiohttp.server").warning("two")

    assert [line["request_id"] for line in logged_lines()] == ["req-42", "req-42"]


def test_lines_inside_a_span_carry_its_trace_and_span_ids(start_logging: StartLogging) -> None:
    logged_lines = start_logging()
    tracer = TracerProvider().get_tracer("test")

    with tracer.start_as_current_span("hold") as span:
        get_logger("x").info("inside")
        logging.getLogger("lib").warning("inside, from the standard library")
    get_logger("x").info("outside")

    inside, stdlib_inside, outside = logged_lines()
    context = span.get_span_context()
    for line in (inside, stdlib_inside):
        assert line["trace_id"] == format(context.trace_id, "032x")
        assert line["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in outside


@pytest.mark.parametrize(
    "key",
    ["password", "token", "access_token", "secret", "jwt_secret", "dsn", "authorization", "Authorization",
     "PASSWORD", "refresh_token", "bootstrap_admin_password", "cookie"],
)
def test_values_of_keys_that_name_a_secret_are_redacted(start_logging: StartLogging, key: str) -> None:
    logged_lines = start_logging()
    get_logger("x").info("sign_in", **{key: "hunter2", "email": "ada@example.com"})

    (line,) = logged_lines()
    assert line[key] == REDACTED
    assert line["email"] == "ada@example.com"


def test_secrets_nested_in_a_logged_mapping_are_redacted(start_logging: StartLogging) -> None:
    logged_lines = start_logging()
    headers = {"Authorization": "Bearer eyJhbGciOi", "Accept": "application/json"}

    get_logger("x").info("upstream_call", headers=headers, body={"user": {"password": "hunter2", "name": "Ada"}})

    (line,) = logged_lines()
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
    assert line["body"] == {"user": {"password": REDACTED, "name": "Ada"}}
    assert headers["Authorization"] == "Bearer eyJhbGciOi"  # the caller's own dict is left alone


def test_standard_library_logging_goes_through_the_same_renderer(start_logging: StartLogging) -> None:
    logged_lines = start_logging()
    logging.getLogger("aiohttp.access").info("GET %s -> %d", "/v1/slots", 200)

    (line,) = logged_lines()
    assert line["event"] == "GET /v1/slots -> 200"
    assert (line["service"], line["level"], line["logger"]) == ("demo", "info", "aiohttp.access")


def test_an_exception_is_logged_with_its_traceback_inside_the_one_line(start_logging: StartLogging) -> None:
    logged_lines = start_logging()
    try:
        raise ValueError("bad slot")
    except ValueError:
        get_logger("x").exception("handler_failed")
        logging.getLogger("lib").exception("stdlib_failed")

    for line in logged_lines():
        assert line["level"] == "error"
        assert line["exception"].startswith("Traceback (most recent call last):")
        assert "ValueError: bad slot" in line["exception"]


def test_the_level_filters_and_noisy_libraries_stay_at_warning(start_logging: StartLogging) -> None:
    logged_lines = start_logging("warning")

    get_logger("x").info("dropped")
    logging.getLogger("aio_pika").info("dropped too")
    get_logger("x").warning("kept")

    assert [line["event"] for line in logged_lines()] == ["kept"]
    assert logging.getLogger("aio_pika").level == logging.WARNING
