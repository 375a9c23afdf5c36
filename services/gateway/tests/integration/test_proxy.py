"""Routing through the gateway to an upstream that echoes what it received: only the verified identity travels,
forged identity headers never do; RBAC answers before the upstream is asked; a dead or stuck upstream is a quick
503 problem."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from multidict import CIMultiDict
from pydantic import SecretStr
from yarl import URL

from smartslot_common.testing.identity import run_identity_key

pytestmark = pytest.mark.integration

FORGED = {
    "X-SmartSlot-User-Id": str(uuid.uuid4()),
    "X-SmartSlot-User-Role": "admin",
}


async def test_forged_identity_headers_are_replaced_by_the_verified_identity(gateway: Any) -> None:
    user, token = await gateway.new_client()
    answer = await gateway.call("GET", "/v1/appointments/123?x=1", token, headers=FORGED)
    assert answer.status == 200, answer.body
    seen = answer.body
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/v1/appointments/123", {"x": "1"})
    assert seen["headers"]["x-smartslot-user-id"] == user["id"]
    assert seen["headers"]["x-smartslot-user-role"] == "client"


async def test_forged_headers_in_any_spelling_do_not_reach_the_upstream(gateway: Any) -> None:
    user, token = await gateway.new_client()
    headers = {"x-smartslot-user-id": str(uuid.uuid4()), "X-SMARTSLOT-USER-ROLE": "admin",
               "Cookie": "session=stolen", "X-Forwarded-For": "10.0.0.1", "X-Internal": "1"}
    answer = await gateway.call("POST", "/v1/holds", token, json={"slot_id": "s-1"},
                                headers=headers | {"Idempotency-Key": "k-1", "X-Request-ID": "trace-me-123"})
    assert answer.status == 200
    received = answer.body["headers"]
    assert (received["x-smartslot-user-id"], received["x-smartslot-user-role"]) == (user["id"], "client")
    assert sorted(name for name in received if name.startswith("x-smartslot-")) == [
        "x-smartslot-identity-signature", "x-smartslot-user-email", "x-smartslot-user-id", "x-smartslot-user-name",
        "x-smartslot-user-role"]
    assert (received["x-smartslot-user-email"], received["x-smartslot-user-name"]) == (user["email"], user["name"])
    for never in ("authorization", "cookie", "x-forwarded-for", "x-internal"):
        assert never not in received, never
    assert received["idempotency-key"] == "k-1"
    assert received["x-request-id"] == "trace-me-123"
    assert received["content-type"] == "application/json"
    assert answer.body["body"] == '{"slot_id":"s-1"}'


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/appointments/123?x=1&x=2&when=2026-01-01T09:00:00%2B01:00"),
    ("GET", "/v1/appointments/a%7Eb?name=%C3%A9"),
    ("POST", "/v1/holds"),
])
async def test_the_forwarded_identity_is_signed_for_the_request_it_travels_with(
    gateway: Any, method: str, path: str
) -> None:
    _, token = await gateway.new_client()
    answer = await gateway.call(method, path, token, json={"slot_id": "s-1"} if method == "POST" else None,
                                headers={"X-SmartSlot-Identity-Signature": "v1.1.forged"})
    assert answer.status == 200, answer.body
    assert answer.body["identity_refused"] is None
    captured = {name: value for name, value in answer.body["headers"].items() if name.startswith("x-smartslot-")}
    key = run_identity_key()
    assert key.refusal("DELETE", path, CIMultiDict(captured)) == "bad_signature"
    assert key.refusal(method, "/v1/admin/users", CIMultiDict(captured)) == "bad_signature"


async def test_a_streams_identity_is_signed_for_its_target_as_sent(gateway: Any, extra_gateway: Any) -> None:
    streaming = await extra_gateway(notifier_url=gateway.upstream.url)  # the echo stands in for the notifier
    _, token = await streaming.new_client()
    # Sent exactly so (an aiohttp client would re-quote %7E as ~ on its own); the gateway must not re-quote either.
    target = URL(str(streaming.http.make_url("/")).rstrip("/") + "/v1/notifications/stream?after=a%7Eb", encoded=True)
    async with streaming.http.session.get(target, headers={"Authorization": f"Bearer {token}"}) as response:
        seen = await response.json()
    assert (response.status, seen["query"], seen["identity_refused"]) == (200, {"after": "a~b"}, None)


async def test_a_gateway_with_another_key_is_not_believed_by_the_services(gateway: Any, extra_gateway: Any) -> None:
    other = await extra_gateway(internal_identity_key=SecretStr("a-key-these-services-do-not-hold-0123456789"))
    _, token = await other.new_client()
    answer = await other.call("GET", "/v1/appointments", token)
    assert answer.body["identity_refused"] == "bad_signature"


async def test_an_admins_identity_is_forwarded_as_admin(gateway: Any) -> None:
    admin = await gateway.admin_token()
    answer = await gateway.call("POST", "/v1/clinics", admin, json={"name": "X", "timezone": "UTC"},
                                headers={"X-SmartSlot-User-Role": "client"})
    assert answer.status == 200
    assert answer.body["headers"]["x-smartslot-user-role"] == "admin"


async def test_the_upstreams_status_and_chosen_headers_come_back(gateway: Any) -> None:
    _, token = await gateway.new_client()
    answer = await gateway.call("POST", "/v1/holds?status=201", token, json={"slot_id": "s-2"})
    assert answer.status == 201
    assert answer.headers["Location"] == "/v1/somewhere"
    assert answer.headers["Retry-After"] == "7"
    assert "X-Internal-Secret" not in answer.headers
    assert answer.headers["X-Request-ID"]


async def test_an_unauthenticated_call_is_401_and_never_reaches_the_upstream(gateway: Any) -> None:
    before = len(gateway.upstream.received)
    for headers in ({}, FORGED, {"Authorization": "Bearer forged.token.here"}):
        answer = await gateway.call("GET", "/v1/appointments/123", headers=headers)
        assert (answer.status, answer.code) == (401, "unauthorized")
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert len(gateway.upstream.received) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/clinics"), ("POST", "/v1/services"), ("DELETE", "/v1/providers/p-1"),
     ("GET", "/v1/admin/analytics"), ("POST", "/v1/appointments/a-1/complete"),
     ("POST", "/v1/appointments/a-1/no-show"), ("GET", "/v1/providers/p-1/working-hours")],
)
async def test_a_client_on_a_route_it_may_not_use_sees_404_and_the_upstream_is_not_asked(
    gateway: Any, method: str, path: str
) -> None:
    _, token = await gateway.new_client()
    before = len(gateway.upstream.received)
    answer = await gateway.call(method, path, token, json={} if method == "POST" else None, headers=FORGED)
    assert (answer.status, answer.code) == (404, "not_found")
    assert len(gateway.upstream.received) == before


async def test_an_admin_reading_working_hours_reaches_booking_as_admin(gateway: Any) -> None:
    answer = await gateway.call("GET", "/v1/providers/p-1/working-hours", await gateway.admin_token())
    assert answer.status == 200, answer.body
    seen = answer.body
    assert (seen["method"], seen["path"]) == ("GET", "/v1/providers/p-1/working-hours")
    assert seen["headers"]["x-smartslot-user-role"] == "admin"


async def test_an_admin_on_a_client_only_route_sees_404(gateway: Any) -> None:
    answer = await gateway.call("POST", "/v1/holds", await gateway.admin_token(), json={"slot_id": "s"})
    assert (answer.status, answer.code) == (404, "not_found")


async def test_a_down_upstream_is_a_quick_503_upstream_unavailable(gateway: Any) -> None:
    _, token = await gateway.new_client()
    started = time.monotonic()
    answer = await gateway.call("GET", "/v1/availability?service_id=x", token)
    elapsed = time.monotonic() - started
    assert (answer.status, answer.code) == (503, "upstream_unavailable")
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert int(answer.headers["Retry-After"]) >= 1
    assert "availability" in answer.body["detail"]
    assert elapsed < 1.0, f"a refused connection should fail fast, took {elapsed:.2f}s"


async def test_a_stuck_upstream_is_503_after_the_upstream_timeout(gateway: Any) -> None:
    _, token = await gateway.new_client()
    started = time.monotonic()
    answer = await gateway.call("GET", "/v1/services/hang", token)
    elapsed = time.monotonic() - started
    assert (answer.status, answer.code) == (503, "upstream_unavailable")
    timeout = gateway.settings.upstream_timeout_seconds
    assert timeout <= elapsed < timeout + 1.5, f"took {elapsed:.2f}s for a {timeout}s timeout"


async def test_an_unknown_path_is_a_404_problem(gateway: Any) -> None:
    _, token = await gateway.new_client()
    answer = await gateway.call("GET", "/v1/nothing-here", token)
    assert (answer.status, answer.code) == (404, "not_found")
