"""The appointments repository: appointments as domain objects, their row locks, their status changes by
compare-and-set on `version`, and their audit rows."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from booking.adapters.repository import APPOINTMENT_COLUMNS, APPOINTMENT_CONTEXT
from booking.adapters.slots import refuse_second_live_seat
from booking.domain.appointment import Appointment, EventContext, NewAppointment
from booking.domain.policies import CancellationPolicy, policy_from
from smartslot_common.db import Connection, fetch_one, fetch_value
from smartslot_common.messaging import Event, outbox_row

Steps = list[tuple[str | None, str]]
LOCKED_COLUMNS = f"{APPOINTMENT_COLUMNS}, version, lock_token"


@dataclass(frozen=True)
class AppointmentToActOn:
    """An appointment as read (unlocked) before a compare-and-set on its version, with the clock and event context."""

    appointment: Appointment
    now: datetime
    context: EventContext


class AppointmentRepository(abc.ABC):
    """Appointments (the port)."""

    @abc.abstractmethod
    async def get(self, appointment_id: uuid.UUID) -> Appointment | None:
        """The appointment as stored, unlocked."""

    @abc.abstractmethod
    async def lock(self, appointment_id: uuid.UUID) -> Appointment | None:
        """The appointment, row-locked for this transaction (every transition reads it this way)."""

    @abc.abstractmethod
    async def to_act_on(self, appointment_id: uuid.UUID) -> AppointmentToActOn | None:
        """The appointment and all an action on it needs besides, in one round trip; None when it does not exist."""

    @abc.abstractmethod
    async def confirm_hold(
        self, appointment: Appointment, status: str, actor: tuple[uuid.UUID, str], event: Event
    ) -> Appointment | None:
        """Confirm a hold read with `to_act_on` in one statement (status, seat, audit row, event); None when it changed
        since, or its deadline passed (nothing written)."""

    @abc.abstractmethod
    async def add(self, appointment: NewAppointment) -> Appointment:
        """Insert a new appointment; `SecondLiveSeat` when the client already has a live one on its slot."""

    @abc.abstractmethod
    async def change_status(
        self, appointment: Appointment, status: str, changes: dict[str, Any]
    ) -> Appointment | None:
        """Set `status` and `changes` by compare-and-set on the version; None when it changed since it was read;
        `SecondLiveSeat` when the change would give the client a second live appointment on one slot."""

    @abc.abstractmethod
    async def record_transition(
        self, appointment_id: uuid.UUID, from_status: str | None, to_status: str, actor_id: uuid.UUID | None,
        actor_role: str | None, reason: str | None,
    ) -> None:
        """One audit row: who, from, to, why."""

    @abc.abstractmethod
    async def record_first_transitions(
        self, appointment_id: uuid.UUID, steps: Steps, actor_id: uuid.UUID | None, actor_role: str | None,
        reason: str | None,
    ) -> None:
        """The audit rows of a new appointment that passes through several statuses at once."""

    @abc.abstractmethod
    async def next_ics_sequence(self, appointment_id: uuid.UUID) -> int:
        """Raise the calendar SEQUENCE (calendar clients replace an event only when it grows); the new value."""

    @abc.abstractmethod
    async def event_context(self, provider_id: uuid.UUID, service_id: uuid.UUID) -> EventContext:
        """What an appointment's events tell consumers besides the appointment."""

    @abc.abstractmethod
    async def cancellation_terms(self, service_id: uuid.UUID) -> tuple[int, CancellationPolicy]:
        """The service's price and its cancellation policy."""

    @abc.abstractmethod
    async def serialise_holds_of(self, client_id: uuid.UUID) -> None:
        """Serialise this client's concurrent holds until the end of the transaction."""

    @abc.abstractmethod
    async def count_live_holds(self, client_id: uuid.UUID) -> int:
        """The client's holds whose deadline has not passed (database clock)."""

    @abc.abstractmethod
    async def lock_overdue_holds(self, slot_id: uuid.UUID) -> list[Appointment]:
        """Row-lock the slot's holds past their deadline (database clock)."""

    @abc.abstractmethod
    async def lock_due_holds(self, limit: int) -> list[Appointment]:
        """Row-lock up to `limit` holds past their deadline, skipping those another transaction has locked."""

    @abc.abstractmethod
    async def lock_live_within(
        self, provider_id: uuid.UUID, starts_at: datetime, ends_at: datetime, now: datetime
    ) -> list[Appointment]:
        """Row-lock the provider's future live appointments overlapping the range, in start order."""


# An action's one read of an appointment: the row (with its version and lock token), the clock and the event context.
APPOINTMENT_TO_ACT_ON = f"""
SELECT {", ".join(f"a.{column.strip()}" for column in LOCKED_COLUMNS.split(","))}, clock_timestamp() AS now,
       p.timezone, p.display_name AS provider_name, p.user_id AS provider_user_id, sv.name AS service_name,
       sv.price_cents, c.name AS clinic_name, c.address AS clinic_address
FROM appointments a
JOIN providers p ON p.id = a.provider_id JOIN clinics c ON c.id = p.clinic_id JOIN services sv ON sv.id = a.service_id
WHERE a.id = $1
"""
_LOCKED_FIELDS = 20  # APPOINTMENT_COLUMNS (18), version, lock_token

# One statement: the hold becomes `$3` by compare-and-set (still locked, same version, deadline not passed on the
# database clock), its held seat becomes a booked one, its audit row and its event are written — or nothing is.
CONFIRM_HOLD = f"""
WITH confirmed AS (
    UPDATE appointments SET status = $3, version = version + 1, updated_at = now(), lock_token = NULL,
        hold_expires_at = NULL
    WHERE id = $1 AND version = $2 AND status = 'locked' AND hold_expires_at > clock_timestamp()
    RETURNING {APPOINTMENT_COLUMNS}, version, lock_token
), audit AS (
    INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason)
    SELECT id, 'locked', status, $4, $5, NULL FROM confirmed
), seat AS (
    UPDATE slots SET held = held - 1, booked = booked + 1, version = version + 1, updated_at = now()
    WHERE id = (SELECT slot_id FROM confirmed)
), event AS (
    INSERT INTO outbox (id, event_type, envelope) SELECT $6, $7, $8::text::jsonb FROM confirmed
)
SELECT * FROM confirmed
"""
_NEW_FIELDS = (
    "id", "slot_id", "provider_id", "service_id", "client_id", "status", "starts_at", "ends_at", "hold_expires_at",
    "origin", "assignment", "assignment_reason", "lock_token", "client_email", "client_name", "currency",
)
_INSERT = (
    f"INSERT INTO appointments ({', '.join(_NEW_FIELDS)}) "
    f"VALUES ({', '.join(f'${index}' for index in range(1, len(_NEW_FIELDS) + 1))}) RETURNING {APPOINTMENT_COLUMNS}"
)
_AUDIT = (
    "INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason) "
    "VALUES ($1, $2, $3, $4, $5, $6)"
)


class PostgresAppointmentRepository(AppointmentRepository):
    """Appointments in PostgreSQL."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def get(self, appointment_id: uuid.UUID) -> Appointment | None:
        row = await self._connection.fetchrow(
            f"SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1", appointment_id)
        return None if row is None else Appointment(*row)

    async def lock(self, appointment_id: uuid.UUID) -> Appointment | None:
        row = await self._connection.fetchrow(
            f"SELECT {LOCKED_COLUMNS} FROM appointments WHERE id = $1 FOR UPDATE", appointment_id)
        return None if row is None else Appointment(*row)

    async def to_act_on(self, appointment_id: uuid.UUID) -> AppointmentToActOn | None:
        row = await self._connection.fetchrow(APPOINTMENT_TO_ACT_ON, appointment_id)
        if row is None:
            return None
        values = tuple(row)
        appointment = Appointment(*values[:_LOCKED_FIELDS])
        timezone, provider_name, provider_user_id, service_name, price_cents, clinic_name, clinic_address = values[
            _LOCKED_FIELDS + 1:]
        context = EventContext(timezone, provider_name, provider_user_id, service_name, price_cents,
                               appointment.currency, clinic_name, clinic_address)
        return AppointmentToActOn(appointment, values[_LOCKED_FIELDS], context)

    async def confirm_hold(
        self, appointment: Appointment, status: str, actor: tuple[uuid.UUID, str], event: Event
    ) -> Appointment | None:
        row = await self._connection.fetchrow(
            CONFIRM_HOLD, appointment.id, appointment.version, status, *actor, *outbox_row(event))
        return None if row is None else Appointment(*row)

    async def add(self, appointment: NewAppointment) -> Appointment:
        fields = appointment.__dict__
        try:
            row = await fetch_one(self._connection, _INSERT, *(fields[field] for field in _NEW_FIELDS))
        except asyncpg.UniqueViolationError as error:
            refuse_second_live_seat(error)
            raise
        return Appointment(*row)

    async def change_status(
        self, appointment: Appointment, status: str, changes: dict[str, Any]
    ) -> Appointment | None:
        assignments = "".join(f", {column} = ${index}" for index, column in enumerate(changes, start=4))
        try:
            row = await self._connection.fetchrow(
                f"UPDATE appointments SET status = $3, version = version + 1, updated_at = now(){assignments} "
                f"WHERE id = $1 AND version = $2 RETURNING {LOCKED_COLUMNS}",
                appointment.id, appointment.version, status, *changes.values(),
            )
        except asyncpg.UniqueViolationError as error:
            refuse_second_live_seat(error)
            raise
        return None if row is None else Appointment(*row)

    async def record_transition(
        self, appointment_id: uuid.UUID, from_status: str | None, to_status: str, actor_id: uuid.UUID | None,
        actor_role: str | None, reason: str | None,
    ) -> None:
        await self._connection.execute(_AUDIT, appointment_id, from_status, to_status, actor_id, actor_role, reason)

    async def record_first_transitions(
        self, appointment_id: uuid.UUID, steps: Steps, actor_id: uuid.UUID | None, actor_role: str | None,
        reason: str | None,
    ) -> None:
        await self._connection.executemany(
            _AUDIT, [(appointment_id, before, after, actor_id, actor_role, reason) for before, after in steps])

    async def next_ics_sequence(self, appointment_id: uuid.UUID) -> int:
        return await fetch_value(
            self._connection, int,
            "UPDATE appointments SET ics_sequence = ics_sequence + 1 WHERE id = $1 RETURNING ics_sequence",
            appointment_id,
        )

    async def event_context(self, provider_id: uuid.UUID, service_id: uuid.UUID) -> EventContext:
        row = await self._connection.fetchrow(APPOINTMENT_CONTEXT, provider_id, service_id)
        return EventContext() if row is None else EventContext(*row)

    async def cancellation_terms(self, service_id: uuid.UUID) -> tuple[int, CancellationPolicy]:
        # A service is only ever soft-deleted, and appointments reference it: the row is always there.
        row = await fetch_one(
            self._connection, "SELECT price_cents, cancellation_policy FROM services WHERE id = $1", service_id)
        spec = row["cancellation_policy"]
        return row["price_cents"], policy_from(orjson.loads(spec) if isinstance(spec, str | bytes) else spec)

    async def serialise_holds_of(self, client_id: uuid.UUID) -> None:
        await self._connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"booking.holds:{client_id}")

    async def count_live_holds(self, client_id: uuid.UUID) -> int:
        return await fetch_value(
            self._connection, int,
            "SELECT count(*) FROM appointments WHERE client_id = $1 AND status = 'locked' "
            "AND hold_expires_at > clock_timestamp()",
            client_id,
        )

    async def lock_overdue_holds(self, slot_id: uuid.UUID) -> list[Appointment]:
        rows = await self._connection.fetch(
            f"SELECT {LOCKED_COLUMNS} FROM appointments "
            "WHERE slot_id = $1 AND status = 'locked' AND hold_expires_at <= clock_timestamp() ORDER BY id FOR UPDATE",
            slot_id,
        )
        return [Appointment(*row) for row in rows]

    async def lock_due_holds(self, limit: int) -> list[Appointment]:
        rows = await self._connection.fetch(
            f"SELECT {LOCKED_COLUMNS} FROM appointments "
            "WHERE status = 'locked' AND hold_expires_at <= clock_timestamp() "
            "ORDER BY hold_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        return [Appointment(*row) for row in rows]

    async def lock_live_within(
        self, provider_id: uuid.UUID, starts_at: datetime, ends_at: datetime, now: datetime
    ) -> list[Appointment]:
        rows = await self._connection.fetch(
            f"SELECT {LOCKED_COLUMNS} FROM appointments "
            "WHERE provider_id = $1 AND status IN ('locked', 'confirmed') AND starts_at < $3 AND ends_at > $2 "
            "AND starts_at > $4 ORDER BY starts_at, id FOR UPDATE",
            provider_id, starts_at, ends_at, now,
        )
        return [Appointment(*row) for row in rows]
