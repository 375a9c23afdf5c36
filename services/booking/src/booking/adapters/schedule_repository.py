"""A provider's schedule in PostgreSQL: weekly rules, time off, and the slots they make, through asyncpg.

Slots from working hours are inserted in one set-based statement however many there are; the exclusion constraint
on a provider's time ranges decides which ones overlap a live slot (those are skipped).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from datetime import date, datetime, timedelta

import asyncpg

from booking.adapters import repository as repo
from booking.adapters.catalog_repository import HOLD_OR_BOOKING
from booking.domain.schedule import ProviderSchedule, SlotInterval, TimeOff, WorkingHoursRule
from booking.domain.slot import Slot
from smartslot_common.db import Connection, ConnectionOrPool, fetch_one, fetch_value


class ScheduleRepository(ABC):
    """Weekly rules, time off and slots of one provider at a time, row-locked through the provider."""

    @abstractmethod
    async def lock_provider(self, provider_id: uuid.UUID) -> ProviderSchedule | None:
        """The live provider, row-locked `FOR NO KEY UPDATE` for this transaction; None when there is none."""

    @abstractmethod
    async def provider_exists(self, provider_id: uuid.UUID) -> bool:
        """Whether the provider is live."""

    @abstractmethod
    async def offered_durations(self, provider_id: uuid.UUID) -> dict[uuid.UUID, timedelta]:
        """The live services the provider offers and their durations, row-locked `FOR SHARE` (not deleted meanwhile)."""

    @abstractmethod
    async def rules(self, provider_id: uuid.UUID) -> list[WorkingHoursRule]:
        """The provider's weekly rules by weekday and start."""

    @abstractmethod
    async def replace_rules(self, provider_id: uuid.UUID, rules: list[WorkingHoursRule]) -> None:
        """Store `rules` in place of the provider's weekly rules."""

    @abstractmethod
    async def upcoming_time_off(self, provider_id: uuid.UUID, now: datetime) -> list[TimeOff]:
        """The provider's time off that has not ended by `now`."""

    @abstractmethod
    async def drop_untouched_slots(self, provider_id: uuid.UUID, now: datetime) -> int:
        """Delete the future generated slots nobody ever held (blocked and deleted ones record a decision and
        stay); return how many."""

    @abstractmethod
    async def add_generated_slots(self, provider_id: uuid.UUID, intervals: list[SlotInterval]) -> int:
        """Insert slots from working hours, skipping any that would overlap a live slot; return how many."""

    @abstractmethod
    async def mark_generated_until(self, provider_id: uuid.UUID, until: date) -> None:
        """Record the first local day whose slots are not generated yet."""

    @abstractmethod
    async def add_ad_hoc_slot(self, provider_id: uuid.UUID, interval: SlotInterval, capacity: int) -> Slot | None:
        """Insert an ad-hoc slot; None when it would overlap a live slot of the provider."""

    @abstractmethod
    async def provider_of_slot(self, slot_id: uuid.UUID) -> uuid.UUID | None:
        """The provider of a slot that is not deleted."""

    @abstractmethod
    async def lock_slot(self, slot_id: uuid.UUID) -> Slot | None:
        """A slot that is not deleted, row-locked `FOR UPDATE`."""

    @abstractmethod
    async def live_appointments_on(self, slot_id: uuid.UUID) -> list[uuid.UUID]:
        """The held or booked appointments of a slot, oldest first."""

    @abstractmethod
    async def retire_slot(self, slot_id: uuid.UUID) -> Slot:
        """Mark a slot this transaction has row-locked deleted (the row stays for history)."""

    @abstractmethod
    async def providers_with_hours(self) -> list[uuid.UUID]:
        """The live providers that have weekly rules."""


class PostgresScheduleRepository(ScheduleRepository):
    """The schedule tables on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    async def lock_provider(self, provider_id: uuid.UUID) -> ProviderSchedule | None:
        row = await self._db.fetchrow(
            "SELECT id, timezone, user_id, slots_generated_until FROM providers WHERE id = $1 AND deleted_at IS NULL "
            "FOR NO KEY UPDATE",
            provider_id,
        )
        return ProviderSchedule(**dict(row)) if row else None

    async def provider_exists(self, provider_id: uuid.UUID) -> bool:
        return await fetch_value(
            self._db, bool, "SELECT EXISTS (SELECT 1 FROM providers WHERE id = $1 AND deleted_at IS NULL)",
            provider_id,
        )

    async def offered_durations(self, provider_id: uuid.UUID) -> dict[uuid.UUID, timedelta]:
        rows = await self._db.fetch(
            "SELECT s.id, s.duration_minutes FROM services s JOIN provider_services ps ON ps.service_id = s.id "
            "WHERE ps.provider_id = $1 AND s.deleted_at IS NULL FOR SHARE OF s",
            provider_id,
        )
        return {row["id"]: timedelta(minutes=row["duration_minutes"]) for row in rows}

    async def rules(self, provider_id: uuid.UUID) -> list[WorkingHoursRule]:
        rows = await self._db.fetch(
            "SELECT weekday, start_local, end_local, service_id FROM working_hours WHERE provider_id = $1 "
            "ORDER BY weekday, start_local",
            provider_id,
        )
        return [WorkingHoursRule(r["weekday"], r["start_local"], r["end_local"], r["service_id"]) for r in rows]

    async def replace_rules(self, provider_id: uuid.UUID, rules: list[WorkingHoursRule]) -> None:
        await self._db.execute("DELETE FROM working_hours WHERE provider_id = $1", provider_id)
        await self._db.executemany(
            "INSERT INTO working_hours (provider_id, weekday, start_local, end_local, service_id) "
            "VALUES ($1, $2, $3, $4, $5)",
            [(provider_id, rule.weekday, rule.start, rule.end, rule.service_id) for rule in rules],
        )

    async def upcoming_time_off(self, provider_id: uuid.UUID, now: datetime) -> list[TimeOff]:
        return await upcoming_time_off(self._db, provider_id, now)

    async def drop_untouched_slots(self, provider_id: uuid.UUID, now: datetime) -> int:
        status = await self._db.execute(
            "DELETE FROM slots s WHERE provider_id = $1 AND origin = 'working_hours' AND starts_at > $2 "
            "AND status = 'open' AND held = 0 AND booked = 0 "
            "AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.slot_id = s.id)",
            provider_id, now,
        )
        return int(status.split()[-1])

    async def add_generated_slots(self, provider_id: uuid.UUID, intervals: list[SlotInterval]) -> int:
        status = await self._db.execute(
            "INSERT INTO slots (id, provider_id, service_id, starts_at, ends_at) "
            "SELECT id, $1, service_id, starts_at, ends_at "
            "FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[]) AS t(id, service_id, "
            "starts_at, ends_at) ON CONFLICT DO NOTHING",
            provider_id, [uuid.uuid4() for _ in intervals], [i.service_id for i in intervals],
            [i.starts_at for i in intervals], [i.ends_at for i in intervals],
        )
        return int(status.split()[-1])

    async def mark_generated_until(self, provider_id: uuid.UUID, until: date) -> None:
        await self._db.execute("UPDATE providers SET slots_generated_until = $2 WHERE id = $1", provider_id, until)

    async def add_ad_hoc_slot(self, provider_id: uuid.UUID, interval: SlotInterval, capacity: int) -> Slot | None:
        # No savepoint: an overlap ends the request, and the unit of work rolls the whole transaction back.
        try:
            row = await fetch_one(
                self._db,
                "INSERT INTO slots (id, provider_id, service_id, starts_at, ends_at, capacity, origin) "
                f"VALUES ($1, $2, $3, $4, $5, $6, 'ad_hoc') RETURNING {repo.SLOT_COLUMNS}",
                uuid.uuid4(), provider_id, interval.service_id, interval.starts_at, interval.ends_at, capacity,
            )
        except asyncpg.ExclusionViolationError:
            return None
        return Slot(**dict(row))

    async def provider_of_slot(self, slot_id: uuid.UUID) -> uuid.UUID | None:
        provider_id: uuid.UUID | None = await self._db.fetchval(
            "SELECT provider_id FROM slots WHERE id = $1 AND status <> 'deleted'", slot_id
        )
        return provider_id

    async def lock_slot(self, slot_id: uuid.UUID) -> Slot | None:
        row = await self._db.fetchrow(
            f"SELECT {repo.SLOT_COLUMNS} FROM slots WHERE id = $1 AND status <> 'deleted' FOR UPDATE", slot_id
        )
        return Slot(**dict(row)) if row else None

    async def live_appointments_on(self, slot_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self._db.fetch(
            f"SELECT id FROM appointments WHERE slot_id = $1 AND status IN {HOLD_OR_BOOKING} ORDER BY created_at, id",
            slot_id,
        )
        return [row["id"] for row in rows]

    async def retire_slot(self, slot_id: uuid.UUID) -> Slot:
        row = await fetch_one(
            self._db,
            "UPDATE slots SET status = 'deleted', version = version + 1, updated_at = now() WHERE id = $1 "
            f"RETURNING {repo.SLOT_COLUMNS}",
            slot_id,
        )
        return Slot(**dict(row))

    async def providers_with_hours(self) -> list[uuid.UUID]:
        return await providers_with_hours(self._db)


async def upcoming_time_off(connection: ConnectionOrPool, provider_id: uuid.UUID, now: datetime) -> list[TimeOff]:
    """The provider's time off that has not ended by `now`."""
    rows = await connection.fetch(
        "SELECT starts_at, ends_at FROM time_off WHERE provider_id = $1 AND ends_at > $2", provider_id, now
    )
    return [TimeOff(row["starts_at"], row["ends_at"]) for row in rows]


async def providers_with_hours(connection: ConnectionOrPool) -> list[uuid.UUID]:
    """The live providers that have weekly rules, by id."""
    rows = await connection.fetch(
        "SELECT id FROM providers p WHERE deleted_at IS NULL "
        "AND EXISTS (SELECT 1 FROM working_hours w WHERE w.provider_id = p.id) ORDER BY id"
    )
    return [row["id"] for row in rows]


async def try_job_lock(connection: Connection, key: int) -> bool:
    """Take the transaction-scoped advisory lock `key` if no one holds it (released when the transaction ends)."""
    return await fetch_value(connection, bool, "SELECT pg_try_advisory_xact_lock($1)", key)
