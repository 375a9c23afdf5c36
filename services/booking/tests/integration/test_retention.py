"""Booking's retention on the real PostgreSQL: published outbox rows past their window and idempotency keys past
their expiry and window go; unpublished rows, newer rows, appointments and their audit trail stay; the job runs
through the shared runner and shows on /metrics."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from booking import retention
from smartslot_common.retention import retain
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.service_api import Catalog
from smartslot_common.testing.waiting import wait_for

from .conftest import BookingApi, settings_for

pytestmark = pytest.mark.integration
TEST_EVENT = "retention.test"


async def _outbox_rows(
    db: asyncpg.Connection, count: int, published: timedelta | None, created: timedelta
) -> list[uuid.UUID]:
    """`count` outbox rows created `created` ago and published `published` ago (None: not yet, nor due soon)."""
    ids = [uuid.uuid4() for _ in range(count)]
    await db.execute(
        "INSERT INTO outbox (id, event_type, envelope, created_at, published_at, next_attempt_at) "
        "SELECT id, $2, '{}'::jsonb, now() - $3::interval, now() - $4::interval, now() + interval '1 day' "
        "FROM unnest($1::uuid[]) AS id",
        ids,
        TEST_EVENT,
        created,
        published,
    )
    return ids


async def _keys(db: asyncpg.Connection, count: int, expired: timedelta) -> list[uuid.UUID]:
    """`count` answered idempotency keys (one per caller) that expired `expired` ago (negative: still live)."""
    callers = [uuid.uuid4() for _ in range(count)]
    await db.execute(
        "INSERT INTO idempotency_keys (caller_id, key, request_fingerprint, state, response_status, response_body, "
        "created_at, expires_at) "
        "SELECT caller, 'k', 'f', 'done', 201, '{}'::jsonb, now() - $2::interval - interval '24 hours', "
        "now() - $2::interval FROM unnest($1::uuid[]) AS caller",
        callers,
        expired,
    )
    return callers


async def _count(db: asyncpg.Connection, query: str, ids: list[uuid.UUID]) -> int:
    return int(await db.fetchval(query, ids))


async def _booked_long_ago(api: BookingApi, catalog: Catalog, db: asyncpg.Connection) -> dict[str, Any]:
    """A confirmed appointment (booked through the API) whose rows all read as if written 400 days ago."""
    slot = await api.slot(catalog, api.future(days=45))
    reply = await api.call("POST", "/v1/appointments", api.client(), {"slot_id": slot["id"]})
    assert reply.status == 201, reply.body
    appointment_id = uuid.UUID(reply.body["id"])
    await db.execute(
        "UPDATE appointments SET created_at = created_at - interval '400 days', "
        "updated_at = updated_at - interval '400 days' WHERE id = $1",
        appointment_id,
    )
    await db.execute(
        "UPDATE appointment_transitions SET at = at - interval '400 days' WHERE appointment_id = $1", appointment_id
    )
    return reply.body


async def test_one_pass_shrinks_each_table_to_its_window_and_keeps_appointments(
    stack: IsolatedStack, db: asyncpg.Connection, api: BookingApi, catalog: Catalog
) -> None:
    old_sent = await _outbox_rows(db, 5, timedelta(days=8), timedelta(days=8))
    new_sent = await _outbox_rows(db, 3, timedelta(days=6), timedelta(days=30))  # the window counts from publishing
    unsent = await _outbox_rows(db, 2, None, timedelta(days=30))
    long_expired = await _keys(db, 3, timedelta(days=2))
    just_expired = await _keys(db, 2, timedelta(hours=1))
    live = await _keys(db, 2, timedelta(hours=-12))
    appointment = await _booked_long_ago(api, catalog, db)
    transitions = await db.fetchval(
        "SELECT count(*) FROM appointment_transitions WHERE appointment_id = $1", uuid.UUID(appointment["id"])
    )
    try:
        # Batches of two: five old outbox rows take three statements, as a backlog would.
        await retain(db, retention.policies(settings_for(stack)), batch_size=2)

        in_outbox = "SELECT count(*) FROM outbox WHERE id = ANY($1)"
        assert await _count(db, in_outbox, old_sent) == 0
        assert await _count(db, in_outbox, new_sent) == 3
        assert await _count(db, in_outbox, unsent) == 2, "a row not yet published is never deleted"
        in_keys = "SELECT count(*) FROM idempotency_keys WHERE caller_id = ANY($1)"
        assert await _count(db, in_keys, long_expired) == 0
        assert await _count(db, in_keys, just_expired) == 2
        assert await _count(db, in_keys, live) == 2
        reply = await api.call("GET", f"/v1/appointments/{appointment['id']}", api.admin())
        assert reply.status == 200
        assert reply.body["status"] == "confirmed"
        assert transitions > 0
        assert transitions == await db.fetchval(
            "SELECT count(*) FROM appointment_transitions WHERE appointment_id = $1", uuid.UUID(appointment["id"])
        )
    finally:
        await db.execute("DELETE FROM outbox WHERE id = ANY($1)", unsent)


async def test_the_retention_job_runs_in_the_service_and_its_metrics_are_on_metrics(booking_http: TestClient) -> None:
    async def exposition() -> str | None:
        async with booking_http.get("/metrics") as response:
            body = await response.text()
        return body if 'smartslot_job_last_success_timestamp_seconds{background_job="retention"}' in body else None

    body = await wait_for(exposition, what="a finished retention run on /metrics")

    for table in ("outbox", "idempotency_keys"):
        assert f'smartslot_retention_rows_deleted_total{{table="{table}"}}' in body
        assert f'smartslot_retention_oldest_row_age_seconds{{table="{table}"}}' in body
