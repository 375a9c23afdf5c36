"""The PostgreSQL pool every service uses: a clear error when the server is not there, and connections that speak
UTC, see the service's schema first and read JSON as Python values."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smartslot_common.db import MissingRow, create_pool, fetch_one, fetch_optional, fetch_value, ping, pool_context
from smartslot_common.errors import DependencyUnavailable
from smartslot_common.http import ReadinessCheck, create_base_app
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration

POOL = web.AppKey("pool", asyncpg.Pool)


@pytest.fixture
async def booking_pool(stack: IsolatedStack) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(stack.database_url, schema="booking", min_size=2, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_an_unreachable_server_is_named_with_where_and_how_to_start_it_but_no_password(host: str) -> None:
    port = free_port()

    with pytest.raises(DependencyUnavailable) as refused:
        await create_pool(f"postgresql://app:hunter2@{host}:{port}/smartslot", schema="booking")

    message = str(refused.value)
    assert refused.value.dependency == "PostgreSQL"
    assert message.startswith(f"cannot reach PostgreSQL at {host}:{port}/smartslot: ")
    assert message.endswith("start it with `make infra` (or `pg_ctlcluster <version> main start`)")
    assert "hunter2" not in message
    assert "app:" not in message


async def test_a_database_that_does_not_exist_is_reported_the_same_way(stack: IsolatedStack) -> None:
    missing = stack.database_url.rsplit("/", 1)[0] + "/smartslot_no_such_database"

    with pytest.raises(DependencyUnavailable, match=r'/smartslot_no_such_database: database "smartslot_no_such'):
        await create_pool(missing)


async def test_every_connection_speaks_utc_and_sees_the_service_schema_first(booking_pool: asyncpg.Pool) -> None:
    async with booking_pool.acquire() as one, booking_pool.acquire() as two:  # both connections of the pool
        for connection in (one, two):
            assert await connection.fetchval("SHOW timezone") == "UTC"
            assert (await connection.fetchval("SELECT now()::text")).endswith("+00")
            assert (await connection.fetchval("SHOW search_path")).replace(" ", "") == "booking,public"
            # Unqualified names are the service's own tables.
            assert await connection.fetchval("SELECT 'outbox'::regclass = 'booking.outbox'::regclass")


async def test_connections_name_the_service_to_the_server(booking_pool: asyncpg.Pool) -> None:
    name = await booking_pool.fetchval(
        "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    )

    assert name == "smartslot-booking"


async def test_json_and_jsonb_are_read_and_written_as_python_values(booking_pool: asyncpg.Pool) -> None:
    document = {"slot_id": "s-1", "seats": [1, 2], "note": None, "price": 12.5, "ok": True}

    assert await booking_pool.fetchval("SELECT $1::jsonb", document) == document
    assert await booking_pool.fetchval("SELECT $1::json", document) == document
    assert await booking_pool.fetchval("""SELECT '{"a": {"b": [1]}}'::jsonb""") == {"a": {"b": [1]}}
    assert await booking_pool.fetchval("SELECT $1::jsonb ->> 'slot_id'", document) == "s-1"


async def test_without_a_schema_the_default_search_path_is_kept(stack: IsolatedStack) -> None:
    pool = await create_pool(stack.database_url, min_size=1, max_size=1)
    try:
        assert await pool.fetchval("SHOW search_path") == '"$user", public'
        assert await pool.fetchval("SHOW application_name") == "smartslot-app"
    finally:
        await pool.close()


async def test_the_cleanup_context_opens_the_pool_for_the_apps_life_and_closes_it_after(stack: IsolatedStack) -> None:
    app = create_base_app(readiness=[ReadinessCheck("postgres", lambda app: ping(app[POOL]))])
    app.cleanup_ctx.append(pool_context(POOL, stack.database_url, "booking", min_size=1, max_size=2))

    async with TestClient(TestServer(app)) as client:
        response = await client.get("/readyz")
        assert response.status == 200
        assert (await response.json())["checks"] == {"postgres": "ok"}
        pool = app[POOL]

    assert pool.is_closing()


async def test_typed_fetches_give_the_value_of_the_asked_type_or_say_what_came_instead(
    booking_pool: asyncpg.Pool,
) -> None:
    assert await fetch_value(booking_pool, int, "SELECT count(*) FROM generate_series(1, 3)") == 3
    assert await fetch_optional(booking_pool, str, "SELECT NULL::text") is None
    assert await fetch_optional(booking_pool, str, "SELECT 'x' WHERE false") is None
    assert await fetch_optional(booking_pool, str, "SELECT $1::text", "yes") == "yes"
    assert (await fetch_one(booking_pool, "SELECT 1 AS one"))["one"] == 1

    with pytest.raises(TypeError, match=r"expected int from 'SELECT 1\.5::float8', got float"):
        await fetch_value(booking_pool, int, "SELECT 1.5::float8")
    with pytest.raises(TypeError, match="expected str or None"):
        await fetch_optional(booking_pool, str, "SELECT 7")
    with pytest.raises(MissingRow, match="no row from"):
        await fetch_one(booking_pool, "SELECT 1 WHERE false")
