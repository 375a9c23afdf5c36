"""isolated_stack: each test run gets its own database, vhost and Redis key prefix, and leaves nothing behind."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aio_pika
import aiormq
import asyncpg
import pytest
import redis.asyncio as aioredis

from smartslot_common.testing import IsolatedStack, isolated_stack
from smartslot_common.testing import isolation as isolation_module
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


async def _databases() -> set[str]:
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        return {row["datname"] for row in await connection.fetch("SELECT datname FROM pg_database")}
    finally:
        await connection.close()


async def _vhost_open(amqp_url: str) -> bool:
    """Whether a client can open a connection to the URL's vhost."""
    try:
        connection = await aio_pika.connect(amqp_url, timeout=5)
    except aiormq.exceptions.AMQPError:
        return False
    await connection.close()
    return True


async def _keys(pattern: str) -> list[bytes]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return [key async for key in client.scan_iter(match=pattern)]
    finally:
        await client.aclose()


async def _use(stack: IsolatedStack) -> None:
    """Leave rows in the database and keys under the namespace, as a test would."""
    connection = await asyncpg.connect(stack.database_url)
    try:
        await connection.execute("CREATE TABLE public.marker (run text)")
        await connection.execute("INSERT INTO public.marker VALUES ($1)", stack.run_id)
    finally:
        await connection.close()
    client = aioredis.Redis.from_url(stack.redis_url)
    try:
        await client.set(stack.namespace + "smartslot:hold:s-1", stack.run_id)
        await client.set(stack.namespace + "smartslot:cache:day", stack.run_id)
    finally:
        await client.aclose()


def _database(stack: IsolatedStack) -> str:
    return stack.database_url.rsplit("/", 1)[1]


async def _check_up(stack: IsolatedStack) -> None:
    name = _database(stack)
    assert name in await _databases()
    assert stack.amqp_url.endswith("/" + name)
    assert await _vhost_open(stack.amqp_url)
    assert stack.env["SMARTSLOT_DATABASE_URL"] == stack.database_url
    assert stack.env["SMARTSLOT_NAMESPACE"] == stack.namespace
    connection = await asyncpg.connect(stack.database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM identity.schema_migrations") >= 1  # migrated
        assert await connection.fetchval("SELECT array_agg(run) FROM public.marker") == [stack.run_id]  # its own
    finally:
        await connection.close()
    assert sorted(await _keys(stack.namespace + "*")) == [
        (stack.namespace + "smartslot:cache:day").encode(),
        (stack.namespace + "smartslot:hold:s-1").encode(),
    ]


async def test_two_concurrent_stacks_each_get_their_own_slice_and_leave_nothing_behind() -> None:
    stacks: list[IsolatedStack] = []
    both_up = asyncio.Barrier(3)
    checked = asyncio.Event()

    async def run() -> None:
        async with isolated_stack(("gateway",)) as stack:
            await _use(stack)
            stacks.append(stack)
            await both_up.wait()
            await checked.wait()

    runs = asyncio.gather(run(), run())
    try:
        async with asyncio.timeout(30):
            await both_up.wait()
        first, second = stacks
        assert len({first.run_id, second.run_id}) == 2
        assert len({first.database_url, second.database_url}) == 2
        assert len({first.amqp_url, second.amqp_url}) == 2
        assert not first.namespace.startswith(second.namespace)
        assert not second.namespace.startswith(first.namespace)
        for stack in stacks:
            await _check_up(stack)
    finally:
        checked.set()
        await runs

    databases = await _databases()
    for stack in stacks:
        assert _database(stack) not in databases
        assert not await _vhost_open(stack.amqp_url)
        assert await _keys(stack.namespace + "*") == []


async def test_when_the_database_cannot_be_made_the_vhost_is_removed_all_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMARTSLOT_TEST_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/smartslot")
    monkeypatch.setattr(isolation_module, "secrets", SimpleNamespace(token_hex=lambda _: "feedc0de"))

    with pytest.raises(OSError, match="Connect call failed"):
        async with isolated_stack(("gateway",)):
            pytest.fail("the stack must not start without its database")

    assert not await _vhost_open("amqp://guest:guest@127.0.0.1:5672/smartslot_t_feedc0de")
