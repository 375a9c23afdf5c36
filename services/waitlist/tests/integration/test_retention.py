"""The waitlist's retention on the real PostgreSQL: published outbox rows, inbox rows and early outcomes past their
windows go; unpublished rows, newer rows and the entries the API lists stay; the job shows on /metrics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from smartslot_common.db import create_pool
from smartslot_common.retention import retain
from smartslot_common.testing import IsolatedStack, wait_for
from smartslot_common.testing.service_api import Catalog, ServiceApi
from waitlist import retention

from .conftest import client, join, waitlist_settings

pytestmark = pytest.mark.integration
TEST_EVENT = "retention.test"


@pytest.fixture
async def pool(stack: IsolatedStack) -> AsyncIterator[asyncpg.Pool]:
    made = await create_pool(stack.database_url, schema="waitlist", min_size=1, max_size=2)
    try:
        yield made
    finally:
        await made.close()


async def _outbox(pool: asyncpg.Pool, count: int, published: timedelta | None) -> list[uuid.UUID]:
    """`count` outbox rows created 30 days ago, published `published` ago (None: not yet, nor due soon)."""
    ids = [uuid.uuid4() for _ in range(count)]
    await pool.execute(
        "INSERT INTO outbox (id, event_type, envelope, created_at, published_at, next_attempt_at) "
        "SELECT id, $2, '{}'::jsonb, now() - interval '30 days', now() - $3::interval, now() + interval '1 day' "
        "FROM unnest($1::uuid[]) AS id",
        ids,
        TEST_EVENT,
        published,
    )
    return ids


async def _inbox(pool: asyncpg.Pool, count: int, age: timedelta) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    await pool.execute(
        "INSERT INTO inbox (consumer, event_id, event_type, received_at) "
        "SELECT 'retention-test', id, $2, now() - $3::interval FROM unnest($1::uuid[]) AS id",
        ids,
        TEST_EVENT,
        age,
    )
    return ids


async def _early(pool: asyncpg.Pool, count: int, age: timedelta) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    await pool.execute(
        "INSERT INTO early_outcomes (appointment_id, outcome, recorded_at) "
        "SELECT id, 'ended', now() - $2::interval FROM unnest($1::uuid[]) AS id",
        ids,
        age,
    )
    return ids


async def _count(pool: asyncpg.Pool, query: str, ids: list[uuid.UUID]) -> int:
    return int(await pool.fetchval(query, ids))


async def test_one_pass_shrinks_each_table_to_its_window_and_keeps_the_entries(
    stack: IsolatedStack, pool: asyncpg.Pool, waitlist: ServiceApi, catalog: Catalog
) -> None:
    old_sent, new_sent, unsent = (
        await _outbox(pool, 4, timedelta(days=8)),
        await _outbox(pool, 2, timedelta(days=6)),
        await _outbox(pool, 2, None),
    )
    old_inbox, new_inbox = await _inbox(pool, 5, timedelta(days=15)), await _inbox(pool, 3, timedelta(days=13))
    old_early, new_early = await _early(pool, 2, timedelta(days=8)), await _early(pool, 1, timedelta(hours=1))
    who = client()
    entry = await join(waitlist, who, service_id=catalog.service_id)
    await pool.execute(
        "UPDATE entries SET created_at = created_at - interval '400 days', updated_at = updated_at - interval "
        "'400 days' WHERE id = $1",
        uuid.UUID(entry["id"]),
    )
    settings = waitlist_settings(stack, "http://127.0.0.1:1")
    try:
        await retain(pool, retention.policies(settings), batch_size=2)

        in_outbox = "SELECT count(*) FROM outbox WHERE id = ANY($1)"
        assert await _count(pool, in_outbox, old_sent) == 0
        assert await _count(pool, in_outbox, new_sent) == 2
        assert await _count(pool, in_outbox, unsent) == 2, "a row not yet published is never deleted"
        in_inbox = "SELECT count(*) FROM inbox WHERE event_id = ANY($1)"
        assert await _count(pool, in_inbox, old_inbox) == 0
        assert await _count(pool, in_inbox, new_inbox) == 3
        in_early = "SELECT count(*) FROM early_outcomes WHERE appointment_id = ANY($1)"
        assert await _count(pool, in_early, old_early) == 0
        assert await _count(pool, in_early, new_early) == 1
        listed = await waitlist.call("GET", "/v1/waitlist", who)
        assert [item["id"] for item in listed.body["items"]] == [entry["id"]]
    finally:
        await pool.execute("DELETE FROM outbox WHERE id = ANY($1)", unsent)


async def test_the_retention_job_runs_in_the_service_and_its_metrics_are_on_metrics(waitlist: ServiceApi) -> None:
    async def exposition() -> str | None:
        async with waitlist.http.get("/metrics") as response:
            body = await response.text()
        return body if 'smartslot_job_last_success_timestamp_seconds{background_job="retention"}' in body else None

    body = await wait_for(exposition, what="a finished retention run on /metrics")

    for table in ("outbox", "inbox", "early_outcomes"):
        assert f'smartslot_retention_rows_deleted_total{{table="{table}"}}' in body
        assert f'smartslot_retention_oldest_row_age_seconds{{table="{table}"}}' in body
