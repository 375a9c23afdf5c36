"""The slots repository: seats taken and given back by compare-and-set on the slot's `version`, the waitlist's
reservation, and the slots a time off blocks."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from booking.adapters.repository import APPOINTMENT_COLUMNS, SLOT_COLUMNS
from booking.domain.appointment import Appointment, EventContext, NewAppointment
from booking.domain.errors import SecondLiveSeat
from booking.domain.slot import Slot
from smartslot_common.db import Connection, fetch_one
from smartslot_common.messaging import Event, outbox_row


@dataclass(frozen=True)
class SlotToClaim:
    """What a claim reads before it writes: the slot (None: no such slot), its reservation, the database clock and
    the event context."""

    slot: Slot | None
    reserved_until: datetime | None
    now: datetime
    context: EventContext
    overdue_holds: bool = False  # holds past their deadline still count as taken seats until expired


@dataclass(frozen=True)
class TimeOffRecord:
    """A provider's time off as recorded."""

    id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime


Steps = list[tuple[str | None, str]]
Actor = tuple[uuid.UUID | None, str | None, str | None]  # (id, role, reason) the audit rows name


class SlotRepository(abc.ABC):
    """Slots and their seats (the port)."""

    @abc.abstractmethod
    async def to_claim(self, slot_id: uuid.UUID) -> SlotToClaim:
        """The slot and all a claim needs besides it, in one round trip."""

    @abc.abstractmethod
    async def claim_with_appointment(
        self, slot: Slot, counter: str, appointment: NewAppointment, steps: Steps, actor: Actor, event: Event
    ) -> Appointment | None:
        """Take one `counter` seat by compare-and-set and write the appointment, its first audit rows and its outbox
        `event` in one statement; None when the slot changed since it was read (nothing written). `SecondLiveSeat`
        when the client already has a live seat there."""

    @abc.abstractmethod
    async def get_with_reservation(self, slot_id: uuid.UUID) -> tuple[Slot | None, datetime | None]:
        """The slot and the end of its reservation for the waitlist (None: public)."""

    @abc.abstractmethod
    async def take_seat(self, slot: Slot, counter: str) -> bool:
        """Compare-and-set: count one more `held` or `booked` seat if the slot is unchanged since it was read."""

    @abc.abstractmethod
    async def release_seat(self, slot_id: uuid.UUID, counter: str) -> None:
        """Give back one `held` or `booked` seat (the CHECK constraint refuses going below zero)."""

    @abc.abstractmethod
    async def convert_held_seat(self, slot_id: uuid.UUID) -> None:
        """A held seat becomes a booked one (a hold confirmed)."""

    @abc.abstractmethod
    async def reserve_for_waitlist(self, slot_id: uuid.UUID, until: datetime | None) -> None:
        """Keep the slot out of the public pool until `until` (None: public again); its version moves."""

    @abc.abstractmethod
    async def end_reservation(self, slot_id: uuid.UUID) -> Slot | None:
        """Return a reserved slot to the public pool; None when it was not reserved."""

    @abc.abstractmethod
    async def lock_open_within(
        self, provider_id: uuid.UUID, starts_at: datetime, ends_at: datetime, now: datetime
    ) -> list[uuid.UUID]:
        """Row-lock the provider's future open slots overlapping the range, in start order."""

    @abc.abstractmethod
    async def block(self, slot_ids: list[uuid.UUID]) -> list[Slot]:
        """Block those of the slots still open; the blocked ones, in start order."""

    @abc.abstractmethod
    async def add_time_off(
        self, provider_id: uuid.UUID, starts_at: datetime, ends_at: datetime, reason: str,
        created_by: uuid.UUID | None,
    ) -> TimeOffRecord:
        """Record a provider's time off (its slots are blocked with `block`)."""


# A claim's one read: the slot (with its waitlist reservation), the database clock, and the event context.
SLOT_TO_CLAIM = """
SELECT s.id, s.provider_id, s.service_id, s.starts_at, s.ends_at, s.capacity, s.held, s.booked, s.status,
       s.version, s.reserved_until, clock_timestamp() AS now,
       EXISTS (SELECT 1 FROM appointments o WHERE o.slot_id = s.id AND o.status = 'locked'
               AND o.hold_expires_at <= clock_timestamp()) AS overdue_holds,
       p.timezone, p.display_name AS provider_name, p.user_id AS provider_user_id, sv.name AS service_name,
       sv.price_cents, sv.currency, c.name AS clinic_name, c.address AS clinic_address
FROM (SELECT 1) AS clock LEFT JOIN (
    slots s JOIN providers p ON p.id = s.provider_id JOIN clinics c ON c.id = p.clinic_id
    JOIN services sv ON sv.id = s.service_id
) ON s.id = $1
"""
LIVE_SEAT_INDEX = "appointments_live_client_slot"  # one live appointment per client and slot
NEW_APPOINTMENT_FIELDS = (
    "id", "slot_id", "provider_id", "service_id", "client_id", "status", "starts_at", "ends_at", "hold_expires_at",
    "origin", "assignment", "assignment_reason", "lock_token", "client_email", "client_name", "currency",
)


def _seat_and_appointment(counter: str) -> str:
    """One statement: the compare-and-set on the slot, then — only if it won — the appointment, its audit rows and its
    event. A statement is atomic by itself, so nothing is half-written and no explicit transaction is needed."""
    assert counter in ("held", "booked")
    columns = ", ".join(NEW_APPOINTMENT_FIELDS)
    values = ", ".join(f"${index}" for index in range(3, 3 + len(NEW_APPOINTMENT_FIELDS)))
    after = 3 + len(NEW_APPOINTMENT_FIELDS)
    steps, actor, event = after, after + 2, after + 5
    return f"""
WITH seat AS (
    UPDATE slots SET {counter} = {counter} + 1, version = version + 1, updated_at = now()
    WHERE id = $1 AND version = $2 AND status = 'open' AND held + booked < capacity
    RETURNING id
), appointment AS (
    INSERT INTO appointments ({columns}) SELECT {values} FROM seat
    RETURNING {APPOINTMENT_COLUMNS}
), audit AS (
    INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason)
    SELECT appointment.id, step.from_status, step.to_status, ${actor}, ${actor + 1}, ${actor + 2}
    FROM appointment, unnest(${steps}::text[], ${steps + 1}::text[]) WITH ORDINALITY
        AS step(from_status, to_status, position)
    ORDER BY step.position
), event AS (
    INSERT INTO outbox (id, event_type, envelope) SELECT ${event}, ${event + 1}, ${event + 2}::text::jsonb
    FROM appointment
)
SELECT * FROM appointment
"""


_CLAIM_STATEMENTS = {counter: _seat_and_appointment(counter) for counter in ("held", "booked")}


def refuse_second_live_seat(error: asyncpg.UniqueViolationError) -> None:
    """Say a write refused by `appointments_live_client_slot` in the domain's words (`SecondLiveSeat`); any other
    violation is left to its caller to raise as it came."""
    if error.constraint_name == LIVE_SEAT_INDEX:
        raise SecondLiveSeat("The client already has a live appointment on this slot.") from error


class PostgresSlotRepository(SlotRepository):
    """Slots in PostgreSQL: every write to a slot is a compare-and-set on its version or a relative update."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def to_claim(self, slot_id: uuid.UUID) -> SlotToClaim:
        row = await fetch_one(self._connection, SLOT_TO_CLAIM, slot_id)  # one row: the slot is LEFT JOINed
        values = tuple(row)
        slot = Slot(*values[:10]) if values[0] is not None else None
        return SlotToClaim(slot, values[10], values[11], EventContext(*values[13:]), bool(values[12]))

    async def claim_with_appointment(
        self, slot: Slot, counter: str, appointment: NewAppointment, steps: Steps, actor: Actor, event: Event
    ) -> Appointment | None:
        fields = appointment.__dict__
        try:
            row = await self._connection.fetchrow(
                _CLAIM_STATEMENTS[counter], slot.id, slot.version,
                *(fields[field] for field in NEW_APPOINTMENT_FIELDS),
                [before for before, _ in steps], [after for _, after in steps], *actor, *outbox_row(event),
            )
        except asyncpg.UniqueViolationError as error:
            refuse_second_live_seat(error)
            raise
        return None if row is None else Appointment(*row)

    async def get_with_reservation(self, slot_id: uuid.UUID) -> tuple[Slot | None, datetime | None]:
        row = await self._connection.fetchrow(
            f"SELECT {SLOT_COLUMNS}, reserved_until FROM slots WHERE id = $1", slot_id)
        if row is None:
            return None, None
        values = tuple(row)
        return Slot(*values[:10]), values[10]

    async def take_seat(self, slot: Slot, counter: str) -> bool:
        assert counter in ("held", "booked")
        status = await self._connection.execute(
            f"UPDATE slots SET {counter} = {counter} + 1, version = version + 1, updated_at = now() "
            "WHERE id = $1 AND version = $2 AND status = 'open' AND held + booked < capacity",
            slot.id, slot.version,
        )
        return bool(status == "UPDATE 1")

    async def release_seat(self, slot_id: uuid.UUID, counter: str) -> None:
        assert counter in ("held", "booked")
        await self._connection.execute(
            f"UPDATE slots SET {counter} = {counter} - 1, version = version + 1, updated_at = now() WHERE id = $1",
            slot_id,
        )

    async def convert_held_seat(self, slot_id: uuid.UUID) -> None:
        # One relative update under the slot's row lock: the counters' CHECK refuses an impossible conversion.
        await self._connection.execute(
            "UPDATE slots SET held = held - 1, booked = booked + 1, version = version + 1, updated_at = now() "
            "WHERE id = $1",
            slot_id,
        )

    async def reserve_for_waitlist(self, slot_id: uuid.UUID, until: datetime | None) -> None:
        # A write to the slot like any other: its version moves, so a public claim that read it before loses its CAS.
        await self._connection.execute(
            "UPDATE slots SET reserved_until = $2, version = version + 1, updated_at = now() WHERE id = $1",
            slot_id, until,
        )

    async def end_reservation(self, slot_id: uuid.UUID) -> Slot | None:
        row = await self._connection.fetchrow(
            "UPDATE slots SET reserved_until = NULL, version = version + 1, updated_at = now() "
            f"WHERE id = $1 AND reserved_until IS NOT NULL RETURNING {SLOT_COLUMNS}",
            slot_id,
        )
        return None if row is None else Slot(*row)

    async def lock_open_within(
        self, provider_id: uuid.UUID, starts_at: datetime, ends_at: datetime, now: datetime
    ) -> list[uuid.UUID]:
        rows = await self._connection.fetch(
            "SELECT id FROM slots WHERE provider_id = $1 AND status = 'open' AND starts_at < $3 AND ends_at > $2 "
            "AND starts_at > $4 ORDER BY starts_at FOR UPDATE",
            provider_id, starts_at, ends_at, now,
        )
        return [row["id"] for row in rows]

    async def block(self, slot_ids: list[uuid.UUID]) -> list[Slot]:
        rows = await self._connection.fetch(
            "UPDATE slots SET status = 'blocked', version = version + 1, updated_at = now() "
            f"WHERE id = ANY($1::uuid[]) AND status = 'open' RETURNING {SLOT_COLUMNS}",
            slot_ids,
        )
        return sorted((Slot(*row) for row in rows), key=lambda slot: slot.starts_at)

    async def add_time_off(
        self, provider_id: uuid.UUID, starts_at: datetime, ends_at: datetime, reason: str,
        created_by: uuid.UUID | None,
    ) -> TimeOffRecord:
        row = await fetch_one(
            self._connection,
            "INSERT INTO time_off (id, provider_id, starts_at, ends_at, reason, created_by) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, provider_id, starts_at, ends_at, reason, created_at",
            uuid.uuid4(), provider_id, starts_at, ends_at, reason, created_by,
        )
        return TimeOffRecord(*row)

