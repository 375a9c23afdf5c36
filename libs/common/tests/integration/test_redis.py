"""The Redis client every service uses: a clear error when Redis is required and absent, tolerance when it is not."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smartslot_common.errors import DependencyUnavailable
from smartslot_common.http import ReadinessCheck, create_base_app
from smartslot_common.redis import connect_redis, redis_context
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration

REDIS = web.AppKey("redis", aioredis.Redis)


async def test_a_required_redis_that_is_not_there_is_named_with_how_to_start_it_but_no_password() -> None:
    port = free_port()

    with pytest.raises(DependencyUnavailable) as refused:
        await connect_redis(f"redis://:hunter2@127.0.0.1:{port}/0")

    message = str(refused.value)
    assert refused.value.dependency == "Redis"
    assert message.startswith(f"cannot reach Redis at 127.0.0.1:{port}/0: ")
    assert message.endswith("start it with `make infra` (or `redis-server --daemonize yes`)")
    assert "hunter2" not in message


async def test_an_optional_redis_that_is_not_there_gives_a_client_that_fails_until_it_comes_back() -> None:
    client = await connect_redis(f"redis://127.0.0.1:{free_port()}/0", required=False)
    try:
        with pytest.raises(aioredis.ConnectionError):
            await client.ping()
    finally:
        await client.aclose()


async def test_a_reachable_redis_answers(stack: IsolatedStack) -> None:
    client = await connect_redis(stack.redis_url)
    key = stack.namespace + "smartslot:test_redis:answer"
    try:
        await client.set(key, "42", px=10_000)
        assert await client.get(key) == b"42"
    finally:
        await client.delete(key)
        await client.aclose()


async def test_a_service_with_optional_redis_starts_without_it_and_reports_it_degraded() -> None:
    async def redis_answers(app: web.Application) -> None:
        await app[REDIS].ping()

    app = create_base_app(readiness=[ReadinessCheck("redis", redis_answers, critical=False)])
    app.cleanup_ctx.append(redis_context(REDIS, f"redis://127.0.0.1:{free_port()}/0", required=False))

    async with TestClient(TestServer(app)) as client:
        response = await client.get("/readyz")

        assert response.status == 200
        assert (await response.json())["checks"]["redis"].startswith("degraded: ")


async def test_a_service_that_requires_redis_does_not_start_without_it() -> None:
    app = create_base_app()
    app.cleanup_ctx.append(redis_context(REDIS, f"redis://127.0.0.1:{free_port()}/0"))
    server = TestServer(app)

    with pytest.raises(DependencyUnavailable, match="cannot reach Redis"):
        await server.start_server()
    await server.close()
