"""PostgreSQL access: an asyncpg pool per service as an aiohttp cleanup context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeAlias, TypeVar

import asyncpg
import orjson
from aiohttp import web
from asyncpg.pool import PoolConnectionProxy

from smartslot_common.errors import DependencyUnavailable
from smartslot_common.http.health import ReadinessCheck
from smartslot_common.logging import get_logger
from smartslot_common.runtime_metrics import track_pool
from smartslot_common.settings import ServiceSettings

# What code that runs queries takes: a connection of its own, or one a pool lends (a proxy that forwards every call).
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
# For single statements that need no transaction, the pool itself will do too.
ConnectionOrPool: TypeAlias = Connection | asyncpg.Pool

T = TypeVar("T")


class MissingRow(LookupError):
    """A query that always returns a row (an INSERT ... RETURNING, a read of a row locked just before) returned none."""


log = get_logger(__name__)
# How long a shutdown waits for the connections in use to come back before closing them under their users.
POOL_CLOSE_SECONDS = 15.0
POSTGRES_HINT = "start it with `make infra` (or `pg_ctlcluster <version> main start`)"


async def _init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=lambda value: orjson.dumps(value).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


async def _keep_session(_: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset query (one more round trip per checkout).

    asyncpg still rolls back an unfinished transaction and drops listener callbacks before calling this. Pooled
    connections never change session state: no `SET`, no session-level advisory locks (only `pg_advisory_xact_lock`),
    no cursors outside transactions, and the outbox relay `UNLISTEN`s before it gives its connection back.
    """


async def create_pool(
    dsn: str, schema: str | None = None, min_size: int = 2, max_size: int = 10, pool_name: str | None = None,
    connection_settings: Mapping[str, str] | None = None, **kwargs: Any,
) -> asyncpg.Pool:
    """A pool whose connections speak UTC, decode JSON and see `schema` first on their search path (and carry
    `connection_settings`, e.g. that their outbox rows are relayed in this process)."""
    server_settings = {
        "timezone": "UTC", "application_name": f"smartslot-{schema or 'app'}", **(connection_settings or {}),
    }
    if schema:
        server_settings["search_path"] = f"{schema},public"
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
            server_settings=server_settings,
            **kwargs,
        )
    except (OSError, asyncpg.PostgresError) as error:
        raise DependencyUnavailable("PostgreSQL", _safe_target(dsn), POSTGRES_HINT, error) from error
    track_pool(pool, pool_name or schema or "app")
    return pool


def _safe_target(dsn: str) -> str:
    """host:port/database of a DSN, without credentials."""
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


def pool_context(
    key: web.AppKey[asyncpg.Pool], dsn: str, schema: str | None, min_size: int = 2, max_size: int = 10,
    connection_settings: Mapping[str, str] | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that opens the pool before start-up and closes it on shutdown."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(dsn, schema, min_size, max_size, connection_settings=connection_settings)
        app[key] = pool
        yield
        await close_pool(pool)

    return context


async def close_pool(pool: asyncpg.Pool, patience: float = POOL_CLOSE_SECONDS) -> None:
    """Close gracefully, waiting for the connections in use to come back; those still out after `patience` seconds
    (something that never gave its connection back) are closed under it, so that a shutdown always ends."""
    try:
        await asyncio.wait_for(pool.close(), patience)
    except TimeoutError:
        log.error("pool_close_timed_out_closing_connections_in_use", seconds=patience)
        pool.terminate()


async def ping(pool: asyncpg.Pool) -> None:
    """Raise unless the database answers a trivial query."""
    await pool.fetchval("SELECT 1")


def postgres_readiness(key: web.AppKey[asyncpg.Pool], name: str = "postgres") -> ReadinessCheck:
    """Readiness check: the pool under `key` answers a trivial query."""

    async def probe(app: web.Application) -> None:
        await ping(app[key])

    return ReadinessCheck(name, probe, "start PostgreSQL: make infra")


def service_pool_context(
    key: web.AppKey[asyncpg.Pool], settings: ServiceSettings, schema: str,
    connection_settings: Mapping[str, str] | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The service's primary pool, sized and located by its settings."""
    return pool_context(key, settings.database_url.get_secret_value(), schema,
                        settings.db_pool_min_size, settings.db_pool_max_size, connection_settings)


# asyncpg's fetch methods are typed Any: these give code outside the adapters a checked type instead.


async def fetch_value(connection: ConnectionOrPool, kind: type[T], query: str, *args: object) -> T:
    """The first column of the query's first row, which must be a `kind`."""
    value = await connection.fetchval(query, *args)
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__} from {query!r}, got {type(value).__name__}")
    return value


async def fetch_optional(connection: ConnectionOrPool, kind: type[T], query: str, *args: object) -> T | None:
    """The first column of the query's first row, or None when there is no row or the value is NULL."""
    value = await connection.fetchval(query, *args)
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__} or None from {query!r}, got {type(value).__name__}")
    return value


async def fetch_one(connection: ConnectionOrPool, query: str, *args: object) -> asyncpg.Record:
    """The query's first row, for queries that always return one."""
    row = await connection.fetchrow(query, *args)
    if row is None:
        raise MissingRow(f"no row from {query!r}")
    return row
