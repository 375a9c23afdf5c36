"""Migrations against the real PostgreSQL, in a throwaway database: once each, refused when edited, serialised by a
lock, all or nothing per file, shared components first.

Each test works in its own schema, so the ledger it reads is its own.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from smartslot_common.migrations import Migration, MigrationError, apply_migrations, component_plan, load_plan
from smartslot_common.testing import IsolatedStack, wait_for
from smartslot_common.testing.isolation import ALL_SERVICES

pytestmark = pytest.mark.integration

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

Connect = Callable[[], Awaitable[asyncpg.Connection]]


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    """A database of this module's own, dropped afterwards."""
    name = f"smartslot_mig_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def connect(database_url: str) -> AsyncIterator[Connect]:
    """Open connections to the throwaway database; all are closed after the test."""
    opened: list[asyncpg.Connection] = []

    async def open_one() -> asyncpg.Connection:
        opened.append(await asyncpg.connect(database_url))
        return opened[-1]

    yield open_one
    for connection in opened:
        await connection.close()


@pytest.fixture
def schema() -> str:
    return f"m_{secrets.token_hex(4)}"


async def _ledger(connection: asyncpg.Connection, schema: str) -> dict[str, str]:
    rows = await connection.fetch(f'SELECT name, checksum FROM "{schema}".schema_migrations ORDER BY applied_at, name')
    return {row["name"]: row["checksum"] for row in rows}


async def _exists(connection: asyncpg.Connection, schema: str, table: str) -> bool:
    return await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".{table}')


PLAN = [
    Migration("0001_slots.sql", "CREATE TABLE slots (id int PRIMARY KEY, starts_at timestamptz NOT NULL);"),
    Migration("0002_hits.sql", "CREATE TABLE hits (n int); INSERT INTO hits VALUES (1);"),
]


async def test_a_plan_applied_twice_applies_nothing_the_second_time(connect: Connect, schema: str) -> None:
    connection = await connect()

    first = await apply_migrations(connection, schema, PLAN)
    second = await apply_migrations(connection, schema, PLAN)

    assert first == ["0001_slots.sql", "0002_hits.sql"]
    assert second == []
    assert await _ledger(connection, schema) == {migration.name: migration.checksum for migration in PLAN}
    assert await connection.fetchval(f'SELECT count(*) FROM "{schema}".hits') == 1


async def test_new_files_are_applied_on_top_of_what_is_there(connect: Connect, schema: str) -> None:
    connection = await connect()
    await apply_migrations(connection, schema, PLAN[:1])

    applied = await apply_migrations(connection, schema, PLAN)

    assert applied == ["0002_hits.sql"]


async def test_an_edited_migration_is_refused_and_nothing_after_it_runs(connect: Connect, schema: str) -> None:
    connection = await connect()
    await apply_migrations(connection, schema, PLAN)
    edited = Migration("0001_slots.sql", PLAN[0].sql.replace("NOT NULL", "NULL"))
    later = Migration("0003_later.sql", "CREATE TABLE later (id int);")

    with pytest.raises(MigrationError, match=f"{schema}/0001_slots.sql changed after it was applied"):
        await apply_migrations(connection, schema, [edited, PLAN[1], later])

    assert not await _exists(connection, schema, "later")
    assert await _ledger(connection, schema) == {migration.name: migration.checksum for migration in PLAN}


async def test_a_failing_migration_rolls_back_entirely_is_not_recorded_and_releases_the_lock(
    connect: Connect, schema: str
) -> None:
    connection, other = await connect(), await connect()
    broken = Migration("0002_broken.sql", "CREATE TABLE half_done (id int); INSERT INTO half_done VALUES (1/0);")
    later = Migration("0003_later.sql", "CREATE TABLE later (id int);")

    with pytest.raises(MigrationError, match=f"{schema}/0002_broken.sql failed: division by zero"):
        await apply_migrations(connection, schema, [PLAN[0], broken, later])

    assert not await _exists(connection, schema, "half_done")
    assert not await _exists(connection, schema, "later")
    assert list(await _ledger(connection, schema)) == ["0001_slots.sql"]  # the file before it stays applied
    fixed = Migration("0002_broken.sql", "CREATE TABLE half_done (id int);")
    applied = await asyncio.wait_for(apply_migrations(other, schema, [PLAN[0], fixed, later]), 10)
    assert applied == ["0002_broken.sql", "0003_later.sql"]


async def test_concurrent_runs_apply_each_file_once_one_after_the_other(connect: Connect, schema: str) -> None:
    blocker, first, second, observer = await connect(), await connect(), await connect(), await connect()
    # Hold the runner's lock so both runs are certainly waiting on it at the same time.
    await blocker.execute("SELECT pg_advisory_lock(hashtext($1))", f"smartslot-migrate:{schema}")
    runs = [asyncio.create_task(apply_migrations(connection, schema, PLAN)) for connection in (first, second)]

    async def both_waiting() -> bool:
        waiting = await observer.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return waiting == 2

    try:
        await wait_for(both_waiting, timeout=10, what="both runs to wait on the migration lock")
    finally:
        await blocker.execute("SELECT pg_advisory_unlock(hashtext($1))", f"smartslot-migrate:{schema}")
    results = await asyncio.wait_for(asyncio.gather(*runs), 10)

    assert sorted(results, key=len) == [[], [migration.name for migration in PLAN]]
    assert await observer.fetchval(f'SELECT count(*) FROM "{schema}".hits') == 1
    assert len(await _ledger(observer, schema)) == len(PLAN)


async def test_each_schema_has_its_own_ledger(connect: Connect, schema: str) -> None:
    connection = await connect()
    other_schema = schema + "_b"

    assert await apply_migrations(connection, schema, PLAN) == [migration.name for migration in PLAN]
    assert await apply_migrations(connection, other_schema, PLAN) == [migration.name for migration in PLAN]


async def test_the_connection_gets_its_search_path_back(connect: Connect, schema: str) -> None:
    connection = await connect()
    before = await connection.fetchval("SHOW search_path")

    await apply_migrations(connection, schema, PLAN)

    assert await connection.fetchval("SHOW search_path") == before
    assert await connection.fetchval("SELECT to_regclass('slots')") is None  # unqualified names see public again


async def test_components_are_applied_before_the_services_own_files(
    connect: Connect, schema: str, make_service: Callable[[str, dict[str, str]], str]
) -> None:
    # The service's own file needs the outbox table, so it only works when the component went first.
    service = make_service(
        {"0001_pending.sql": "CREATE VIEW pending AS SELECT id FROM outbox WHERE published_at IS NULL;"},
        init=f'SCHEMA = "{schema}"\nCOMPONENTS = ("outbox", "inbox")\n',
    )
    connection = await connect()
    loaded_schema, plan = load_plan(service)

    applied = await apply_migrations(connection, loaded_schema, plan)

    assert applied == [
        "common.outbox.0001_outbox.sql", "common.outbox.0002_outbox_published.sql",
        "common.outbox.0003_outbox_notify_others_only.sql",
        "common.inbox.0001_inbox.sql", "common.inbox.0002_inbox_received.sql", "0001_pending.sql",
    ]
    assert list(await _ledger(connection, schema)) == applied
    for table in ("outbox", "inbox", "pending"):
        assert await _exists(connection, schema, table), table


async def test_every_real_service_is_migrated_in_the_run_database_and_is_then_up_to_date(
    stack: IsolatedStack,
) -> None:
    connection = await asyncpg.connect(stack.database_url)
    try:
        for service in ALL_SERVICES:
            schema, plan = load_plan(service)
            assert await _ledger(connection, schema) == {migration.name: migration.checksum for migration in plan}
            assert await apply_migrations(connection, schema, plan) == [], service
    finally:
        await connection.close()


async def test_a_component_a_service_no_longer_declares_can_be_dropped_by_its_next_file(
    connect: Connect, schema: str
) -> None:
    # Availability's earlier releases had the inbox component; its own 0001 now drops the table it never wrote to.
    connection = await connect()
    await apply_migrations(connection, schema, component_plan("inbox"))
    assert await _exists(connection, schema, "inbox")

    applied = await apply_migrations(connection, schema, load_plan("availability")[1])

    assert applied == ["0001_drop_unused_inbox.sql"]
    assert not await _exists(connection, schema, "inbox")
