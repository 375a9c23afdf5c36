"""A provider's schedule: weekly working hours turned into slot rows, ad-hoc slots, slot deletion (time off is in
`time_off`, the daily extension in `horizon`).

Every change to one provider's schedule first locks that provider's row (`FOR NO KEY UPDATE`, which leaves the
foreign-key checks of concurrent holds alone), so working hours, time off, ad-hoc slots and the horizon job never
interleave for one provider: no slot can be generated inside time off that is being written at the same moment.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from booking import metrics
from booking.adapters import repository as repo
from booking.domain.errors import ConflictingAppointments, InvalidSchedule, NotFound, SlotInPast, SlotOverlap
from booking.domain.schedule import SlotInterval, TimeOff, WorkingHoursRule, expand, first_overlap, outside_time_off
from booking.service_layer.access import require_provider_access
from smartslot_common.contracts.events import SCHEDULE_CHANGED, SLOT_BLOCKED, SLOT_CREATED
from smartslot_common.db import Connection, fetch_one
from smartslot_common.http.identity import Caller
from smartslot_common.messaging import Event, add_to_outbox

PRODUCER = "booking"
LIVE = "('locked', 'confirmed')"


async def lock_provider(connection: Connection, provider_id: uuid.UUID) -> asyncpg.Record:
    """The live provider, locked for this transaction (see the module docstring); `404` otherwise."""
    row = await connection.fetchrow(
        "SELECT id, timezone, user_id, slots_generated_until FROM providers WHERE id = $1 AND deleted_at IS NULL "
        "FOR NO KEY UPDATE",
        provider_id,
    )
    if row is None:
        raise NotFound("No such provider.")
    return row


async def _durations(connection: Connection, provider_id: uuid.UUID) -> dict[uuid.UUID, timedelta]:
    """The live services the provider offers, by id; `FOR SHARE` keeps them from being deleted meanwhile."""
    rows = await connection.fetch(
        "SELECT s.id, s.duration_minutes FROM services s JOIN provider_services ps ON ps.service_id = s.id "
        "WHERE ps.provider_id = $1 AND s.deleted_at IS NULL FOR SHARE OF s",
        provider_id,
    )
    return {row["id"]: timedelta(minutes=row["duration_minutes"]) for row in rows}


async def _rules(connection: Connection, provider_id: uuid.UUID) -> list[WorkingHoursRule]:
    rows = await connection.fetch(
        "SELECT weekday, start_local, end_local, service_id FROM working_hours WHERE provider_id = $1 "
        "ORDER BY weekday, start_local",
        provider_id,
    )
    return [WorkingHoursRule(r["weekday"], r["start_local"], r["end_local"], r["service_id"]) for r in rows]


async def working_hours(pool: asyncpg.Pool, caller: Caller, provider_id: uuid.UUID) -> list[WorkingHoursRule]:
    """The provider's weekly rules as they were set, by weekday and start (none: an empty list)."""
    async with pool.acquire() as connection:
        await require_provider_access(connection, caller, provider_id)
        if not await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM providers WHERE id = $1 AND deleted_at IS NULL)", provider_id
        ):
            raise NotFound("No such provider.")  # an admin asking about a deleted or unknown provider
        return await _rules(connection, provider_id)


async def upcoming_time_off(
    connection: Connection, provider_id: uuid.UUID, now: datetime
) -> list[TimeOff]:
    """The provider's time off that has not ended yet."""
    rows = await connection.fetch(
        "SELECT starts_at, ends_at FROM time_off WHERE provider_id = $1 AND ends_at > $2", provider_id, now
    )
    return [TimeOff(row["starts_at"], row["ends_at"]) for row in rows]


def slot_payload(row: asyncpg.Record, **extra: Any) -> dict[str, Any]:
    """What a `slot.*` event says about a slot row."""
    return {
        "slot_id": str(row["id"]), "provider_id": str(row["provider_id"]), "service_id": str(row["service_id"]),
        "starts_at": row["starts_at"].isoformat(), "ends_at": row["ends_at"].isoformat(), **extra,
    }


def _schedule_changed(provider_id: uuid.UUID, services: set[uuid.UUID], reason: str, created: int) -> Event:
    return Event.create(SCHEDULE_CHANGED, {
        "provider_id": str(provider_id), "service_ids": sorted(map(str, services)), "reason": reason,
        "slots_created": created,
    }, PRODUCER)


# --- generating slots from working hours ----------------------------------------------------------------------------


async def _generate(
    connection: Connection, provider: asyncpg.Record, first: date, until: date, now: datetime
) -> int:
    """Create the future slots the rules yield on local days [first, until), outside time off; return how many."""
    durations = await _durations(connection, provider["id"])
    # A rule for a service that was deleted (or is no longer offered) makes nothing.
    rules = [rule for rule in await _rules(connection, provider["id"]) if rule.service_id in durations]
    zone = ZoneInfo(provider["timezone"])
    intervals = [i for i in expand(rules, first, (until - first).days, zone, durations) if i.starts_at > now]
    kept = outside_time_off(intervals, await upcoming_time_off(connection, provider["id"], now))
    created = await _insert_slots(connection, provider["id"], kept)
    await connection.execute("UPDATE providers SET slots_generated_until = $2 WHERE id = $1", provider["id"], until)
    metrics.SLOTS_GENERATED.inc(created)
    return created


async def _insert_slots(connection: Connection, provider_id: uuid.UUID, intervals: list[SlotInterval]) -> int:
    """Insert slots in one statement, skipping any that would overlap a live slot (the constraint decides)."""
    status = await connection.execute(
        "INSERT INTO slots (id, provider_id, service_id, starts_at, ends_at) "
        "SELECT id, $1, service_id, starts_at, ends_at "
        "FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[]) AS t(id, service_id, starts_at, "
        "ends_at) ON CONFLICT DO NOTHING",
        provider_id, [uuid.uuid4() for _ in intervals], [i.service_id for i in intervals],
        [i.starts_at for i in intervals], [i.ends_at for i in intervals],
    )
    return int(status.split()[-1])


def _horizon(provider: asyncpg.Record, now: datetime, horizon_days: int) -> tuple[date, date]:
    """Today and the first day past the horizon, as local days of the provider."""
    today = now.astimezone(ZoneInfo(provider["timezone"])).date()
    return today, today + timedelta(days=horizon_days)


async def _replace_rules(
    connection: Connection, provider_id: uuid.UUID, rules: list[WorkingHoursRule]
) -> set[uuid.UUID]:
    """Store the new weekly rules; return the services the old ones offered."""
    before = {rule.service_id for rule in await _rules(connection, provider_id)}
    await connection.execute("DELETE FROM working_hours WHERE provider_id = $1", provider_id)
    await connection.executemany(
        "INSERT INTO working_hours (provider_id, weekday, start_local, end_local, service_id) "
        "VALUES ($1, $2, $3, $4, $5)",
        [(provider_id, rule.weekday, rule.start, rule.end, rule.service_id) for rule in rules],
    )
    return before


async def _drop_untouched_slots(connection: Connection, provider_id: uuid.UUID, now: datetime) -> None:
    """Remove the future generated slots nobody ever booked. Blocked and deleted slots record a decision and stay."""
    await connection.execute(
        "DELETE FROM slots s WHERE provider_id = $1 AND origin = 'working_hours' AND starts_at > $2 "
        "AND status = 'open' AND held = 0 AND booked = 0 "
        "AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.slot_id = s.id)",
        provider_id, now,
    )


async def set_working_hours(
    pool: asyncpg.Pool, caller: Caller, provider_id: uuid.UUID, rules: list[WorkingHoursRule], horizon_days: int
) -> dict[str, Any]:
    """Replace the weekly rules and regenerate the untouched future slots for the booking horizon."""
    if overlap := first_overlap(rules):
        raise InvalidSchedule(f"Two rules overlap on weekday {overlap[0].weekday}.")
    async with pool.acquire() as connection, connection.transaction():
        await require_provider_access(connection, caller, provider_id)
        provider = await lock_provider(connection, provider_id)
        if unknown := {rule.service_id for rule in rules} - (await _durations(connection, provider_id)).keys():
            raise InvalidSchedule(f"The provider does not offer service {sorted(map(str, unknown))[0]}.")
        before = await _replace_rules(connection, provider_id, rules)
        now = await repo.database_now(connection)
        await _drop_untouched_slots(connection, provider_id, now)
        created = await _generate(connection, provider, *_horizon(provider, now, horizon_days), now)
        services = before | {rule.service_id for rule in rules}
        await add_to_outbox(connection, _schedule_changed(provider_id, services, "working_hours", created))
        return {"provider_id": provider_id, "rules": rules, "slots_created": created}


async def extend_provider(connection: Connection, provider_id: uuid.UUID, horizon_days: int) -> int:
    """Generate the days between what was generated before and the horizon (none when up to date)."""
    try:
        provider = await lock_provider(connection, provider_id)
    except NotFound:
        return 0  # deleted since the job listed it
    now = await repo.database_now(connection)
    today, until = _horizon(provider, now, horizon_days)
    first = max(provider["slots_generated_until"] or today, today)
    if first >= until:
        return 0
    created = await _generate(connection, provider, first, until, now)
    if created:
        services = {rule.service_id for rule in await _rules(connection, provider_id)}
        await add_to_outbox(connection, _schedule_changed(provider_id, services, "horizon", created))
    return created


# --- ad-hoc slots and slot deletion ---------------------------------------------------------------------------------


async def create_slot(
    pool: asyncpg.Pool, caller: Caller, provider_id: uuid.UUID, service_id: uuid.UUID, starts_at: datetime,
    capacity: int,
) -> dict[str, Any]:
    """An ad-hoc slot; `slot_overlap` when it collides with another live slot or the provider's time off."""
    async with pool.acquire() as connection, connection.transaction():
        await require_provider_access(connection, caller, provider_id)
        await lock_provider(connection, provider_id)
        durations = await _durations(connection, provider_id)
        if service_id not in durations:
            raise InvalidSchedule("The provider does not offer this service.")
        now = await repo.database_now(connection)
        if starts_at <= now:
            raise SlotInPast("A slot must start in the future.")
        interval = SlotInterval(service_id, starts_at, starts_at + durations[service_id])
        if not outside_time_off([interval], await upcoming_time_off(connection, provider_id, now)):
            raise SlotOverlap("The provider is on time off then.")
        try:
            async with connection.transaction():
                row = await fetch_one(
                    connection,
                    "INSERT INTO slots (id, provider_id, service_id, starts_at, ends_at, capacity, origin) "
                    f"VALUES ($1, $2, $3, $4, $5, $6, 'ad_hoc') RETURNING {repo.SLOT_COLUMNS}",
                    uuid.uuid4(), provider_id, service_id, starts_at, interval.ends_at, capacity,
                )
        except asyncpg.ExclusionViolationError:
            raise SlotOverlap("The provider already has a slot at that time.") from None
        await add_to_outbox(connection, Event.create(SLOT_CREATED, slot_payload(row), PRODUCER))
        return dict(row)


async def _lock_own_slot(connection: Connection, caller: Caller, slot_id: uuid.UUID) -> asyncpg.Record:
    """The live slot, locked, if the caller manages its provider; someone else's slot reads exactly like a missing
    one (`404`)."""
    provider_id = await connection.fetchval("SELECT provider_id FROM slots WHERE id = $1 AND status <> 'deleted'",
                                            slot_id)
    try:
        if provider_id is None:
            raise NotFound("No such slot.")
        await require_provider_access(connection, caller, provider_id)
    except NotFound:
        raise NotFound("No such slot.") from None
    slot = await connection.fetchrow(
        f"SELECT {repo.SLOT_COLUMNS} FROM slots WHERE id = $1 AND status <> 'deleted' FOR UPDATE", slot_id
    )
    if slot is None:  # deleted while we looked
        raise NotFound("No such slot.")
    return slot


async def delete_slot(pool: asyncpg.Pool, caller: Caller, slot_id: uuid.UUID) -> None:
    """Retire a future slot nobody holds or booked: its status becomes `deleted` (the row stays for history)."""
    async with pool.acquire() as connection, connection.transaction():
        slot = await _lock_own_slot(connection, caller, slot_id)
        if slot["starts_at"] <= await repo.database_now(connection):
            raise SlotInPast("This slot has already started; it stays as it is.")
        live = await connection.fetch(
            f"SELECT id FROM appointments WHERE slot_id = $1 AND status IN {LIVE} ORDER BY created_at, id", slot_id
        )
        if live:
            raise ConflictingAppointments("The slot is still held or booked.",
                                          appointment_ids=[str(row["id"]) for row in live])
        row = await fetch_one(  # the slot is locked by this transaction (above)
            connection,
            "UPDATE slots SET status = 'deleted', version = version + 1, updated_at = now() WHERE id = $1 "
            f"RETURNING {repo.SLOT_COLUMNS}",
            slot_id,
        )
        await add_to_outbox(connection, Event.create(SLOT_BLOCKED, slot_payload(row, reason="deleted"), PRODUCER))
