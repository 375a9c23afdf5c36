"""One test run's own slice of the real servers: a database, a RabbitMQ vhost and a Redis key prefix.

Runs never collide: everything carries a random run id and is removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

from smartslot_common.migrations import apply_migrations, load_plan

ALL_SERVICES = ("gateway", "booking", "availability", "waitlist", "notifier")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SMARTSLOT_TEST_{name}") or os.environ.get(f"SMARTSLOT_{name}") or default


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


@dataclass
class IsolatedStack:
    """Connection settings of one isolated run, as `SMARTSLOT_*` variables."""

    run_id: str
    database_url: str
    replica_database_url: str | None
    redis_url: str
    amqp_url: str
    namespace: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """Environment for a service process (or settings object) of this run."""
        env = {
            "SMARTSLOT_DATABASE_URL": self.database_url,
            "SMARTSLOT_REDIS_URL": self.redis_url,
            "SMARTSLOT_AMQP_URL": self.amqp_url,
            "SMARTSLOT_NAMESPACE": self.namespace,
        }
        if self.replica_database_url:
            env["SMARTSLOT_REPLICA_DATABASE_URL"] = self.replica_database_url
        return env | self.extra


async def _rabbitmqctl(*args: str) -> bool:
    # A subprocess of its own, so the event loop (and a concurrent run's set-up) goes on while the tool works.
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        return False
    process = await asyncio.create_subprocess_exec(
        tool, "-q", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        return await asyncio.wait_for(process.wait(), 60) == 0
    except TimeoutError:
        process.kill()
        await process.wait()
        return False


async def _create_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _delete_redis_keys(url: str, namespace: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=f"{namespace}*", count=500):
            await client.delete(key)
    finally:
        await client.aclose()


async def migrate_all(database_url: str, services: tuple[str, ...] = ALL_SERVICES) -> None:
    """Apply every service's migrations to the run's database."""
    connection = await asyncpg.connect(database_url)
    try:
        for service in services:
            schema, plan = load_plan(service)
            await apply_migrations(connection, schema, plan)
    finally:
        await connection.close()


async def _replica_url(primary_url: str, database: str) -> str | None:
    """The replica's URL for this run's database, when a replica is configured and reachable."""
    configured = _env("REPLICA_DATABASE_URL", "postgresql://postgres@127.0.0.1:5433/smartslot")
    url = _with_path(configured, "/" + database)
    try:
        connection = await asyncpg.connect(_with_path(configured, "/postgres"), timeout=2)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        in_recovery = await connection.fetchval("SELECT pg_is_in_recovery()")
    finally:
        await connection.close()
    return url if in_recovery else None


@asynccontextmanager
async def isolated_stack(services: tuple[str, ...] = ALL_SERVICES) -> AsyncIterator[IsolatedStack]:
    """Create the run's database (migrated), vhost and key prefix; remove them all afterwards."""
    run_id = secrets.token_hex(4)
    name = f"smartslot_t_{run_id}"
    primary = _env("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/smartslot")
    admin_url = _with_path(primary, "/postgres")
    database_url = _with_path(primary, "/" + name)
    amqp = _env("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    redis_url = _env("REDIS_URL", "redis://127.0.0.1:6379/0")
    namespace = f"t{run_id}."
    # Each removal runs even when set-up or an earlier removal failed, so nothing of the run is left behind.
    async with AsyncExitStack() as cleanup:
        vhost_made = await _rabbitmqctl("add_vhost", name)
        if vhost_made:
            cleanup.push_async_callback(_rabbitmqctl, "delete_vhost", name)
            vhost_made = await _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        amqp_url = _with_path(amqp, "/" + quote(name, safe="")) if vhost_made else amqp
        cleanup.push_async_callback(_delete_redis_keys, redis_url, namespace)
        cleanup.push_async_callback(_drop_database, admin_url, name)
        await _create_database(admin_url, name)
        await migrate_all(database_url, services)
        replica = await _replica_url(primary, name)
        yield IsolatedStack(run_id, database_url, replica, redis_url, amqp_url, namespace)
