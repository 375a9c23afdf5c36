"""Role changes across gateway processes: a change made through one gateway is refused at another on the next request,
by a gateway started after it, and by one whose Redis connection was cut meanwhile and restored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.adapters.role_marks import RoleMarks
from gateway.app_keys import ROLE_MARKS
from smartslot_common.testing import IsolatedStack, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(stack: IsolatedStack) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(stack.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def marks_of(gateway: Any) -> RoleMarks:
    marks: RoleMarks = gateway.http.server.app[ROLE_MARKS]
    return marks


async def following(gateway: Any) -> None:
    async def now() -> bool:
        return marks_of(gateway).following

    await wait_for(now, 10, what="the gateway following role changes")


async def demote_to_provider(gateway: Any, user: dict[str, Any]) -> None:
    answer = await gateway.call("PATCH", f"/v1/admin/users/{user['id']}", await gateway.admin_token(),
                                json={"role": "provider"})
    assert answer.status == 200, answer.body


def assert_role_changed(answer: Any) -> None:
    assert answer.status == 401, answer.body
    assert "role has changed" in answer.body["detail"]


async def test_a_change_through_one_gateway_is_refused_at_another_on_the_next_request(
        gateway: Any, extra_gateway: Any) -> None:
    other = await extra_gateway()
    await following(gateway)
    await following(other)
    user, token = await gateway.new_client()
    assert (await other.call("GET", "/v1/me", token)).status == 200

    await demote_to_provider(gateway, user)

    assert_role_changed(await other.call("GET", "/v1/me", token))
    fresh = await gateway.token(user["email"])
    assert (await other.call("GET", "/v1/me", fresh)).body["role"] == "provider"


async def test_a_gateway_started_after_a_change_refuses_the_old_role(gateway: Any, extra_gateway: Any) -> None:
    user, token = await gateway.new_client()
    await demote_to_provider(gateway, user)

    later = await extra_gateway()
    await following(later)

    assert_role_changed(await later.call("GET", "/v1/me", token))


async def test_a_change_made_while_a_gateway_was_cut_off_is_refused_before_and_after_it_is_back(
        gateway: Any, extra_gateway: Any, redis: aioredis.Redis) -> None:
    cut = await extra_gateway(role_marks_resubscribe_seconds=2.0)
    await following(cut)
    user, token = await gateway.new_client()
    assert (await cut.call("GET", "/v1/me", token)).status == 200

    subscription = [client for client in await redis.client_list() if client["name"] == marks_of(cut).client_name]
    assert len(subscription) == 1, subscription
    await redis.client_kill_filter(_id=subscription[0]["id"])

    async def noticed() -> bool:
        return not marks_of(cut).following

    await wait_for(noticed, 10, what="the cut gateway noticing its subscription is gone")
    await demote_to_provider(gateway, user)
    assert not marks_of(cut).following, "the change must be made while the gateway is cut off"

    assert_role_changed(await cut.call("GET", "/v1/me", token))  # read from Redis while not following
    await following(cut)
    assert_role_changed(await cut.call("GET", "/v1/me", token))  # from memory: loaded when it subscribed again
