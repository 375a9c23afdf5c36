"""The retention pass on the real PostgreSQL: rows past the window go, in batches, oldest first; rows inside it or
outside the policy's predicate stay; the metrics say what was deleted and how old the oldest kept row is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from prometheus_client import REGISTRY

from smartslot_common.db import create_pool
from smartslot_common.retention import RetentionPolicy, purge, retain
from smartslot_common.testing import IsolatedStack

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(stack: IsolatedStack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a schema of this test's own, holding one table `kept` of sent and unsent rows."""
    schema = f"retention_{uuid.uuid4().hex[:8]}"
    setup = await asyncpg.connect(stack.database_url)
    try:
        await setup.execute(f"CREATE SCHEMA {schema}")
        await setup.execute(
            f"CREATE TABLE {schema}.kept (id int PRIMARY KEY, sent_at timestamptz);"
            f"CREATE INDEX kept_sent ON {schema}.kept (sent_at) WHERE sent_at IS NOT NULL"
        )
        made = await create_pool(stack.database_url, schema=schema, min_size=1, max_size=2)
        try:
            yield made
        finally:
            await made.close()
    finally:
        await setup.execute(f"DROP SCHEMA {schema} CASCADE")
        await setup.close()


SENT = RetentionPolicy("kept", "sent_at", timedelta(days=7), where="sent_at IS NOT NULL")


async def _insert(pool: asyncpg.Pool, first: int, count: int, age: timedelta | None) -> None:
    """`count` rows from id `first`, sent `age` ago (None: never sent)."""
    await pool.execute(
        "INSERT INTO kept SELECT n, now() - $3::interval FROM generate_series($1::int, $1 + $2 - 1) AS n",
        first,
        count,
        age,
    )


def _deleted(table: str) -> float:
    return REGISTRY.get_sample_value("smartslot_retention_rows_deleted_total", {"table": table}) or 0.0


async def test_a_pass_deletes_only_sent_rows_past_the_window_and_reports_the_oldest_kept(pool: asyncpg.Pool) -> None:
    await _insert(pool, 1, 30, timedelta(days=30))  # past the window
    await _insert(pool, 101, 20, timedelta(days=6))  # inside it
    await _insert(pool, 201, 10, None)  # never sent: the policy does not cover them
    before = _deleted("kept")

    deleted = await retain(pool, [SENT], batch_size=1000)

    assert deleted == {"kept": 30}
    assert await pool.fetchval("SELECT count(*) FROM kept WHERE id BETWEEN 1 AND 100") == 0
    assert await pool.fetchval("SELECT count(*) FROM kept WHERE id BETWEEN 101 AND 200") == 20
    assert await pool.fetchval("SELECT count(*) FROM kept WHERE sent_at IS NULL") == 10
    assert _deleted("kept") - before == 30
    oldest = REGISTRY.get_sample_value("smartslot_retention_oldest_row_age_seconds", {"table": "kept"})
    assert oldest is not None
    assert 6 * 86400 <= oldest < 6 * 86400 + 600


async def test_a_pass_deletes_a_backlog_in_batches_of_the_configured_size(pool: asyncpg.Pool) -> None:
    await _insert(pool, 1, 2_500, timedelta(days=8))
    await _insert(pool, 5_001, 5, timedelta(days=1))
    statements: list[int] = []
    batch = SENT.delete_batch_sql

    def count_batches(query: asyncpg.connection.LoggedQuery) -> None:
        if query.query == batch:
            statements.append(1)

    async with pool.acquire() as connection:
        connection.add_query_logger(count_batches)
        try:
            deleted = await purge(connection, SENT, batch_size=1_000)
        finally:
            connection.remove_query_logger(count_batches)

    assert deleted == 2_500
    assert len(statements) == 3  # 1,000 + 1,000 + 500: the last short batch ends the pass
    assert await pool.fetchval("SELECT count(*) FROM kept") == 5


async def test_a_row_another_transaction_holds_is_skipped_not_waited_for(pool: asyncpg.Pool) -> None:
    await _insert(pool, 1, 3, timedelta(days=30))
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM kept WHERE id = 2 FOR UPDATE")

        deleted = await purge(pool, SENT, batch_size=10)

        assert deleted == 2
    assert await pool.fetchval("SELECT array_agg(id) FROM kept") == [2]


async def test_a_batch_finds_its_rows_through_the_index_on_the_policy_column(pool: asyncpg.Pool) -> None:
    await _insert(pool, 1, 5_000, timedelta(days=1))
    await pool.execute("ANALYZE kept")

    plan = "\n".join(
        row[0]
        for row in await pool.fetch(
            "EXPLAIN " + SENT.delete_batch_sql.replace("$1::interval", "interval '7 days'").replace("$2", "1000")
        )
    )

    assert "Index Scan using kept_sent" in plan or "Index Only Scan using kept_sent" in plan, plan
    assert "Tid Scan" in plan, plan


async def test_a_pass_out_of_time_leaves_the_rest_of_a_backlog_to_the_next_pass(pool: asyncpg.Pool) -> None:
    await _insert(pool, 1, 250, timedelta(days=8))

    first = await retain(pool, [SENT], batch_size=100, budget_seconds=0)  # no time: one batch, and the pass ends
    assert first == {"kept": 100}
    oldest = REGISTRY.get_sample_value("smartslot_retention_oldest_row_age_seconds", {"table": "kept"})
    assert oldest is not None
    assert oldest >= 8 * 86400, "the gauge shows the backlog still there"

    assert await retain(pool, [SENT], batch_size=100, budget_seconds=0) == {"kept": 100}
    assert await retain(pool, [SENT], batch_size=100, budget_seconds=0) == {"kept": 50}
    assert await pool.fetchval("SELECT count(*) FROM kept") == 0
