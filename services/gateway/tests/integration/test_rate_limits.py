"""Rate limits through a real gateway: `429 rate_limited` with Retry-After per IP on sign-in, per user on everything,
tighter on holds; other users unaffected; two gateways share one budget through Redis; with Redis down each gateway
keeps serving and limiting with its own counts."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from gateway.adapters.rate_limits import RateLimiter, decode, shared_key
from smartslot_common.testing import IsolatedStack, wait_for
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


async def test_with_redis_down_the_gateway_keeps_serving_and_limiting_and_says_redis_is_degraded(
        extra_gateway: Any) -> None:
    down = await extra_gateway(redis_url=SecretStr(f"redis://127.0.0.1:{free_port()}/0"), rate_limit_auth="1/minute")
    before = await fail_open_count(down)
    body = {"email": down.admin_email, "password": down.admin_password}
    answers = [await down.call("POST", "/v1/auth/token", json=body) for _ in range(3)]
    assert answers[0].status == 200, answers[0].body
    assert_rate_limited(answers[1])  # counted in this process alone, rather than not at all
    assert_rate_limited(answers[2])
    ready = await down.call("GET", "/readyz")
    assert ready.status == 200, ready.body
    assert ready.body["checks"]["redis"].startswith("degraded")
    assert await fail_open_count(down) >= before + 3


async def fail_open_count(gateway: Any) -> float:
    text = (await gateway.call("GET", "/metrics")).body
    lines = [line for line in text.splitlines()
             if line.startswith('smartslot_gateway_redis_fail_open_total{check="rate_limit"}')]
    return float(lines[0].split()[-1]) if lines else 0.0


async def shared_hits(redis: aioredis.Redis, gateway: Any, limit: str, user_id: str) -> list[int]:
    """The hits each gateway has shared through Redis for one user's general rule (one entry per gateway)."""
    rule = RateLimiter.rule("user", limit, f"user:{user_id}")
    fields = await redis.hgetall(shared_key(gateway.settings.redis_key("ratelimit"), rule.key))
    counts = [decode(value, rule.limit.get_expiry()) for value in fields.values()]
    return sorted(count.current for count in counts if count is not None)


async def test_two_gateways_share_one_budget_through_redis(gateway: Any, extra_gateway: Any,
                                                           stack: IsolatedStack) -> None:
    namespace = f"{gateway.settings.namespace}rl{secrets.token_hex(3)}."
    first, second = [await extra_gateway(namespace=namespace, rate_limit_user="6/minute") for _ in range(2)]
    user, token = await gateway.new_client()
    redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        assert [(await first.call("GET", "/v1/me", token)).status for _ in range(4)] == [200] * 4
        await wait_for(lambda: _equal(shared_hits(redis, first, "6/minute", user["id"]), [4]), 5,
                       what="the first gateway's hits shared")
        # A key new to the second gateway is decided there alone until its next sync, which reads the first's hits
        # (within one sync interval: the documented bound); from then on two are left, not six.
        assert (await second.call("GET", "/v1/me", token)).status == 200
        await wait_for(lambda: _equal(shared_hits(redis, first, "6/minute", user["id"]), [1, 4]), 5,
                       what="the second gateway's first hit shared, and the first's read back")
        assert (await second.call("GET", "/v1/me", token)).status == 200
        assert_rate_limited(await second.call("GET", "/v1/me", token))

        await wait_for(lambda: _equal(shared_hits(redis, first, "6/minute", user["id"]), [2, 4]), 5,
                       what="the second gateway's hits shared")
        # The first decides on what it heard at its last sync, before the second's hits: over the limit by what it
        # admits within one sync interval (documented), and refusing once it has heard.
        assert (await first.call("GET", "/v1/me", token)).status == 200
        await wait_for(lambda: _equal(shared_hits(redis, first, "6/minute", user["id"]), [2, 5]), 5,
                       what="the first gateway's sync after its late hit")
        assert_rate_limited(await first.call("GET", "/v1/me", token))
    finally:
        await redis.aclose()


async def test_a_sign_in_address_new_to_a_gateway_waits_for_the_others_counts(
    gateway: Any, extra_gateway: Any, stack: IsolatedStack
) -> None:
    namespace = f"{gateway.settings.namespace}rl{secrets.token_hex(3)}."
    first, second = [await extra_gateway(namespace=namespace, rate_limit_auth="2/minute") for _ in range(2)]
    body = {"email": gateway.email("guess"), "password": "wrong-password"}
    rule = RateLimiter.rule("auth", "2/minute", "ip:127.0.0.1", learn_first=True)
    redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        assert [(await first.call("POST", "/v1/auth/token", json=body)).status for _ in range(2)] == [401, 401]
        key = shared_key(first.settings.redis_key("ratelimit"), rule.key)
        await wait_for(lambda: _truthy(redis.hgetall(key)), 5, what="the first gateway's sign-ins shared")
        # Password guessing: the second gateway's first answer to this address already counts the first's two.
        assert_rate_limited(await second.call("POST", "/v1/auth/token", json=body))
    finally:
        await redis.aclose()


async def _truthy(value: Any) -> bool:
    return bool(await value)


async def _equal(hits: Any, expected: list[int]) -> bool:
    return await hits == expected
