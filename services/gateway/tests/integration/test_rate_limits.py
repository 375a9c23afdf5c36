"""Rate limits in Redis through a real gateway: `429 rate_limited` with Retry-After per IP on sign-in, per user on
everything, tighter on holds; other users unaffected; with Redis down the gateway keeps serving (fail open)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from pydantic import SecretStr

from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration


async def limited_gateway(gateway: Any, extra_gateway: Any, **limits: str) -> Any:
    # A namespace of its own (inside the run's), so no other test's counters are shared.
    namespace = f"{gateway.settings.namespace}rl{secrets.token_hex(3)}."
    return await extra_gateway(namespace=namespace, **limits)


def assert_rate_limited(answer: Any, window_seconds: int = 60) -> None:
    assert (answer.status, answer.code) == (429, "rate_limited"), answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert 1 <= int(answer.headers["Retry-After"]) <= window_seconds


async def test_sign_in_is_limited_per_ip_with_retry_after(gateway: Any, extra_gateway: Any) -> None:
    limited = await limited_gateway(gateway, extra_gateway, rate_limit_auth="3/minute")
    body = {"email": gateway.email("guess"), "password": "wrong-password"}
    answers = [await limited.call("POST", "/v1/auth/token", json=body) for _ in range(4)]
    assert [answer.status for answer in answers[:3]] == [401, 401, 401]
    assert_rate_limited(answers[3])
    register = await limited.call("POST", "/v1/auth/register",
                                  json={"email": gateway.email(), "password": "long-enough-1", "name": "X"})
    assert_rate_limited(register)  # the same per-IP budget covers registration


async def test_each_user_has_an_allowance_of_their_own(gateway: Any, extra_gateway: Any) -> None:
    limited = await limited_gateway(gateway, extra_gateway, rate_limit_user="3/minute")
    _, first = await gateway.new_client()
    _, second = await gateway.new_client()
    statuses = [(await limited.call("GET", "/v1/me", first)).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert_rate_limited(await limited.call("GET", "/v1/me", first))
    assert (await limited.call("GET", "/v1/me", second)).status == 200


async def test_holds_are_tighter_than_reads(gateway: Any, extra_gateway: Any) -> None:
    limited = await limited_gateway(gateway, extra_gateway, rate_limit_booking="2/minute")
    _, token = await gateway.new_client()
    holds = [await limited.call("POST", "/v1/holds", token, json={"slot_id": "s"}) for _ in range(3)]
    assert [answer.status for answer in holds[:2]] == [200, 200]  # the echo upstream answers 200
    assert_rate_limited(holds[2])
    instant = await limited.call("POST", "/v1/appointments", token, json={"slot_id": "s"})
    assert_rate_limited(instant)
    assert (await limited.call("GET", "/v1/appointments/a-1", token)).status == 200


async def test_anonymous_calls_are_limited_per_ip(gateway: Any, extra_gateway: Any) -> None:
    limited = await limited_gateway(gateway, extra_gateway, rate_limit_ip="2/minute")
    statuses = [(await limited.call("GET", "/v1/openapi.json")).status for _ in range(2)]
    assert statuses == [200, 200]
    assert_rate_limited(await limited.call("GET", "/v1/nothing-here"))
    assert (await limited.call("GET", "/healthz")).status == 200, "operator routes are never limited"


async def test_with_redis_down_the_gateway_keeps_serving_and_says_redis_is_degraded(extra_gateway: Any) -> None:
    down = await extra_gateway(redis_url=SecretStr(f"redis://127.0.0.1:{free_port()}/0"), rate_limit_auth="1/minute")
    before = await fail_open_count(down)
    body = {"email": down.admin_email, "password": down.admin_password}
    assert [(await down.call("POST", "/v1/auth/token", json=body)).status for _ in range(3)] == [200, 200, 200]
    ready = await down.call("GET", "/readyz")
    assert ready.status == 200, ready.body
    assert ready.body["checks"]["redis"].startswith("degraded")
    assert await fail_open_count(down) >= before + 3


async def fail_open_count(gateway: Any) -> float:
    text = (await gateway.call("GET", "/metrics")).body
    lines = [line for line in text.splitlines()
             if line.startswith('smartslot_gateway_redis_fail_open_total{check="rate_limit"}')]
    return float(lines[0].split()[-1]) if lines else 0.0
