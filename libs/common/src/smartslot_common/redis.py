"""Redis client as an aiohttp cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis
from aiohttp import web

from smartslot_common.errors import DependencyUnavailable

REDIS_HINT = "start it with `make infra` (or `redis-server --daemonize yes`)"
# What a Redis call raises when the server is unreachable or the connection broke mid-command. Under uvloop a command
# written to a transport that was just closed fails with a bare RuntimeError ("unable to perform operation on
# <TCPTransport closed=True>") rather than a ConnectionError, so callers that degrade without Redis catch it too.
REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (aioredis.RedisError, OSError, RuntimeError)
MAX_CONNECTIONS = 128
POOL_WAIT_SECONDS = 2.0
# A command's reply is awaited this long; a blocking read (XREAD BLOCK, BLPOP) must ask for less, or a quiet moment
# reads as Redis gone.
SOCKET_TIMEOUT_SECONDS = 2.0


def _client(url: str) -> aioredis.Redis:
    """A client whose pool makes a burst wait briefly for a free connection instead of failing it.

    redis-py's default pool refuses the request past its connection cap, which under a storm reads like Redis
    being down; a blocking pool queues it for up to `POOL_WAIT_SECONDS`.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=POOL_WAIT_SECONDS,
        socket_connect_timeout=1.0, socket_timeout=SOCKET_TIMEOUT_SECONDS, health_check_interval=5,
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool and closes it with itself


async def connect_redis(url: str, required: bool = True) -> aioredis.Redis:
    """A client that has answered one PING; with `required=False` a failed ping is tolerated."""
    client = _client(url)
    try:
        await client.ping()
    except REDIS_UNAVAILABLE as error:
        if required:
            await client.aclose()
            target = url.split("@")[-1].removeprefix("redis://")
            raise DependencyUnavailable("Redis", target, REDIS_HINT, error) from error
    return client


def redis_context(
    key: web.AppKey[aioredis.Redis], url: str, required: bool = True
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context holding one Redis client for the app's lifetime."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        client = await connect_redis(url, required)
        app[key] = client
        yield
        await client.aclose()

    return context
