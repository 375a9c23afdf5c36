"""Working hours and ad-hoc slots: the provider's offer, turned into slot rows."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from booking import metrics
from booking.adapters import repository as repo
from booking.domain.errors import InvalidSchedule, NotFound, SlotInPast, SlotOverlap
from booking.domain.schedule import WorkingHoursRule, expand
from smartslot_common.contracts.events import SCHEDULE_CHANGED, SLOT_CREATED
from smartslot_common.messaging import Event, add_to_outbox

PRODUCER = "booking"


async def _provider(connection: asyncpg.Connection, provider_id: uuid.UUID) -> asyncpg.Record:
    row = await connection.fetchrow(
        "SELECT id, timezone, user_id FROM providers WHERE id = $1 AND deleted_at IS NULL", provider_id
    )
    if row is None:
        raise NotFound("No such provider.")
    return row


async def _durations(connection: asyncpg.Connection, provider_id: uuid.UUID) -> dict[uuid.UUID, timedelta]:
    rows = await connection.fetch(
        "SELECT s.id, s.duration_minutes FROM services s JOIN provider_services ps ON ps.service_id = s.id "
        "WHERE ps.provider_id = $1 AND s.deleted_at IS NULL",
        provider_id,
    )
    return {row["id"]: timedelta(minutes=row["duration_minutes"]) for row in rows}


async def set_working_hours(
    pool: asyncpg.Pool, provider_id: uuid.UUID, rules: list[WorkingHoursRule], horizon_days: int
) -> dict[str, Any]:
    """Replace the weekly rules and regenerate the untouched future slots for the booking horizon."""
    async with pool.acquire() as connection, connection.transaction():
        provider = await _provider(connection, provider_id)
        durations = await _durations(connection, provider_id)
        if unknown := {rule.service_id for rule in rules} - durations.keys():
            raise InvalidSchedule(f"The provider does not offer service {sorted(map(str, unknown))[0]}.")
        await connection.execute("DELETE FROM working_hours WHERE provider_id = $1", provider_id)
        await connection.executemany(
            "INSERT INTO working_hours (provider_id, weekday, start_local, end_local, service_id) "
            "VALUES ($1, $2, $3, $4, $5)",
            [(provider_id, rule.weekday, rule.start, rule.end, rule.service_id) for rule in rules],
        )
        now = await repo.database_now(connection)
        await connection.execute(
            "DELETE FROM slots s WHERE provider_id = $1 AND origin = 'working_hours' AND starts_at > $2 "
            "AND held = 0 AND booked = 0 AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.slot_id = s.id)",
            provider_id, now,
        )
        zone = ZoneInfo(provider["timezone"])
        intervals = [
            interval
            for interval in expand(rules, now.astimezone(zone).date(), horizon_days, zone, durations)
            if interval.starts_at > now
        ]
        created = await _insert_slots(connection, provider_id, intervals)
        await add_to_outbox(connection, Event.create(
            SCHEDULE_CHANGED, {"provider_id": str(provider_id), "slots_created": created}, PRODUCER
        ))
        metrics.SLOTS_GENERATED.inc(created)
        return {"provider_id": provider_id, "rules": rules, "slots_created": created}


async def _insert_slots(connection: asyncpg.Connection, provider_id: uuid.UUID, intervals: list[Any]) -> int:
    """Insert slots, skipping any that would overlap a slot kept from before (the constraint decides)."""
    created = 0
    for interval in intervals:
        status = await connection.execute(
            "INSERT INTO slots (id, provider_id, service_id, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT DO NOTHING",
            uuid.uuid4(), provider_id, interval.service_id, interval.starts_at, interval.ends_at,
        )
        created += status == "INSERT 0 1"
    return created


async def create_slot(
    pool: asyncpg.Pool, provider_id: uuid.UUID, service_id: uuid.UUID, starts_at: datetime, capacity: int
) -> dict[str, Any]:
    """An ad-hoc slot; `slot_overlap` when it collides with another live slot of the provider."""
    async with pool.acquire() as connection, connection.transaction():
        await _provider(connection, provider_id)
        durations = await _durations(connection, provider_id)
        if service_id not in durations:
            raise InvalidSchedule("The provider does not offer this service.")
        if starts_at <= await repo.database_now(connection):
            raise SlotInPast("A slot must start in the future.")
        try:
            async with connection.transaction():
                row = await connection.fetchrow(
                    "INSERT INTO slots (id, provider_id, service_id, starts_at, ends_at, capacity, origin) "
                    f"VALUES ($1, $2, $3, $4, $5, $6, 'ad_hoc') RETURNING {repo.SLOT_COLUMNS}",
                    uuid.uuid4(), provider_id, service_id, starts_at, starts_at + durations[service_id], capacity,
                )
        except asyncpg.ExclusionViolationError:
            raise SlotOverlap("The provider already has a slot at that time.") from None
        await add_to_outbox(connection, Event.create(SLOT_CREATED, _slot_payload(row), PRODUCER))
        return dict(row)


def _slot_payload(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "slot_id": str(row["id"]), "provider_id": str(row["provider_id"]), "service_id": str(row["service_id"]),
        "starts_at": row["starts_at"].isoformat(), "ends_at": row["ends_at"].isoformat(),
    }
