"""problem+json for everything that goes wrong at the door, on the gateway's own calls and on proxied ones alike;
a body that is too large, not JSON or malformed never reaches an upstream."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from smartslot_common.api_client import Answer

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def assert_problem(answer: Any, status: int, code: str) -> None:
    assert (answer.status, answer.code) == (status, code), answer.body
    assert answer.headers["Content-Type"].startswith(PROBLEM)
    assert {"type", "title", "status", "detail", "code", "trace_id"} <= answer.body.keys()


async def _send(gateway: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
    """A request with exactly these bytes and headers (the API helper always sends well-formed JSON)."""
    async with gateway.http.request(method, path, data=body, headers=headers) as response:
        data = await response.read()
        parsed = orjson.loads(data) if "json" in response.content_type else data.decode()
        return Answer(response.status, parsed, dict(response.headers))


@pytest.fixture
async def client_token(gateway: Any) -> str:
    return (await gateway.new_client())[1]


async def test_an_unknown_route_is_a_404_problem(gateway: Any) -> None:
    assert_problem(await gateway.call("GET", "/v1/anything"), 404, "not_found")
    assert_problem(await gateway.call("GET", "/docs/anything"), 404, "not_found")


async def test_other_paths_are_console_pages_and_a_console_that_is_down_is_a_503_problem(gateway: Any) -> None:
    # Nobody listens at the console's address in this stack: the page is refused the way any upstream's call is.
    assert_problem(await gateway.call("GET", "/v2/anything"), 503, "upstream_unavailable")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/v1/holds", "POST"), ("PUT", "/v1/me", "GET"), ("POST", "/v1/availability", "GET"),
])
async def test_a_wrong_method_is_405_with_allow(gateway: Any, method: str, path: str, allowed: str) -> None:
    answer = await gateway.call(method, path)
    assert_problem(answer, 405, "method_not_allowed")
    assert allowed in answer.headers["Allow"]


@pytest.mark.parametrize("path", ["/v1/holds", "/v1/auth/register"])
async def test_a_body_that_is_not_json_is_415(gateway: Any, client_token: str, path: str) -> None:
    before = len(gateway.upstream.received)
    answer = await _send(gateway, "POST", path, {"Authorization": f"Bearer {client_token}",
                                                 "Content-Type": "text/plain"}, b"slot_id=1")
    assert_problem(answer, 415, "unsupported_media_type")
    assert len(gateway.upstream.received) == before


@pytest.mark.parametrize("path", ["/v1/holds", "/v1/auth/register"])
async def test_malformed_json_is_400(gateway: Any, client_token: str, path: str) -> None:
    before = len(gateway.upstream.received)
    answer = await _send(gateway, "POST", path, {"Authorization": f"Bearer {client_token}",
                                                 "Content-Type": "application/json"}, b'{"slot_id": ')
    assert_problem(answer, 400, "malformed_json")
    assert len(gateway.upstream.received) == before


@pytest.mark.parametrize("path", ["/v1/holds", "/v1/auth/register"])
async def test_a_body_over_the_limit_is_413(gateway: Any, client_token: str, path: str) -> None:
    before = len(gateway.upstream.received)
    too_big = b'{"slot_id": "' + b"x" * gateway.settings.max_body_bytes + b'"}'
    answer = await _send(gateway, "POST", path, {"Authorization": f"Bearer {client_token}",
                                                 "Content-Type": "application/json"}, too_big)
    assert_problem(answer, 413, "payload_too_large")
    assert len(gateway.upstream.received) == before


async def test_an_empty_body_is_forwarded_for_calls_whose_body_is_optional(gateway: Any, client_token: str) -> None:
    answer = await gateway.call("POST", "/v1/appointments/a-1/cancel", client_token)
    assert answer.status == 200
    assert answer.body["body"] == ""


async def test_validation_errors_name_the_failing_fields(gateway: Any) -> None:
    answer = await gateway.call("POST", "/v1/auth/register", json={"email": "nope", "password": "x"})
    assert_problem(answer, 422, "validation_error")
    assert {error["field"] for error in answer.body["errors"]} == {"email", "password", "name"}


async def test_a_get_never_forwards_a_body(gateway: Any, client_token: str) -> None:
    answer = await _send(gateway, "GET", "/v1/services", {"Authorization": f"Bearer {client_token}",
                                                           "Content-Type": "application/json"}, b'{"x": 1}')
    assert answer.status == 200
    assert answer.body["body"] == ""
