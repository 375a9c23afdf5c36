"""Booking's unit of work and repositories in memory, for unit tests of the service layer (fakes, not mocks).

`FakeUnitOfWork` keeps everything in one `Store`: a transaction works on it directly, a rollback puts back the copy
taken when the transaction began, and a commit moves the recorded events to `store.outbox` and counts itself.
The repositories follow the PostgreSQL ones' rules where a test can see them (compare-and-set on versions, seat
counters within capacity, one live appointment per client and slot).
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from booking.adapters.appointments import AppointmentRepository, AppointmentToActOn
from booking.adapters.idempotency import IdempotencyRepository, StoredKey
from booking.adapters.slots import Actor, SlotRepository, SlotToClaim, Steps, TimeOffRecord
from booking.domain.appointment import HOLD_STATUS, Appointment, EventContext, NewAppointment
from booking.domain.errors import SecondLiveSeat
from booking.domain.policies import CancellationPolicy, policy_from
from booking.domain.slot import Slot
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.messaging import Event
from smartslot_common.uow import AfterCommit, run_after_commit

from .fake_catalog import (
    CatalogTables,
    FakeAppointmentViews,
    FakeAssignmentRepository,
    FakeCatalogRepository,
    FakeScheduleRepository,
)

LIVE = (HOLD_STATUS, "confirmed")
NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


@dataclass
class Transition:
    """One audit row."""

    appointment_id: uuid.UUID
    from_status: str | None
    to_status: str
    actor_id: uuid.UUID | None
    actor_role: str | None
    reason: str | None


@dataclass
class Store:
    """Booking's tables in memory."""

    now: datetime = NOW
    slots: dict[uuid.UUID, Slot] = field(default_factory=dict)
    reserved_until: dict[uuid.UUID, datetime | None] = field(default_factory=dict)
    appointments: dict[uuid.UUID, Appointment] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    outbox: list[Event] = field(default_factory=list)
    keys: dict[tuple[uuid.UUID, str], StoredKey] = field(default_factory=dict)
    time_off: list[TimeOffRecord] = field(default_factory=list)
    contexts: dict[tuple[uuid.UUID, uuid.UUID], EventContext] = field(default_factory=dict)
    terms: dict[uuid.UUID, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    row_locks: list[uuid.UUID] = field(default_factory=list)  # what was row-locked, in order (tests read it)
    catalog: CatalogTables = field(default_factory=CatalogTables)

    def events(self, kind: str | None = None) -> list[Event]:
        """The committed events, of one type when asked."""
        return [event for event in self.outbox if kind is None or event.type == kind]

    # --- building test data -----------------------------------------------------------------------------------------

    def add_slot(
        self, *, starts_in: timedelta = timedelta(days=1), capacity: int = 1, provider_id: uuid.UUID | None = None,
        service_id: uuid.UUID | None = None, status: str = "open", minutes: int = 30, price_cents: int = 5000,
        policy: dict[str, Any] | None = None,
    ) -> Slot:
        """An open slot (and its service's terms and event context)."""
        starts_at = self.now + starts_in
        slot = Slot(uuid.uuid4(), provider_id or uuid.uuid4(), service_id or uuid.uuid4(), starts_at,
                    starts_at + timedelta(minutes=minutes), capacity, 0, 0, status, 1)
        self.slots[slot.id] = slot
        self.reserved_until[slot.id] = None
        self.contexts.setdefault((slot.provider_id, slot.service_id), EventContext(
            "Europe/Paris", "Dr Who", uuid.uuid4(), "Checkup", price_cents, "EUR", "Clinic", "1 Main St"))
        self.terms.setdefault(slot.service_id, (price_cents, policy or {"kind": "flexible"}))
        return slot

    def add_appointment(
        self, slot: Slot, *, client_id: uuid.UUID | None = None, status: str = HOLD_STATUS,
        hold_expires_in: timedelta = timedelta(minutes=5), lock_token: str | None = None,
    ) -> Appointment:
        """An appointment occupying a seat of `slot` (the slot's counter counts it)."""
        appointment = Appointment(
            uuid.uuid4(), status, slot.id, slot.provider_id, slot.service_id, client_id or uuid.uuid4(),
            slot.starts_at, slot.ends_at, self.now + hold_expires_in if status == HOLD_STATUS else None, "client",
            "chosen", 0, "EUR", self.now, self.now, None, None, 0, 1, lock_token,
        )
        self.appointments[appointment.id] = appointment
        counter = appointment.seat_counter
        if counter is not None:
            current = self.slots[slot.id]
            self.slots[slot.id] = dataclasses.replace(current, **{counter: getattr(current, counter) + 1})
        return appointment


class FakeSlotRepository(SlotRepository):
    """Slots in a `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def to_claim(self, slot_id: uuid.UUID) -> SlotToClaim:
        slot = self.store.slots.get(slot_id)
        if slot is None:
            return SlotToClaim(None, None, self.store.now, EventContext())
        overdue = any(
            a.slot_id == slot_id and a.status == HOLD_STATUS and a.hold_expires_at is not None
            and a.hold_expires_at <= self.store.now for a in self.store.appointments.values())
        context = self.store.contexts.get((slot.provider_id, slot.service_id), EventContext())
        return SlotToClaim(slot, self.store.reserved_until.get(slot_id), self.store.now, context, overdue)

    async def claim_with_appointment(
        self, slot: Slot, counter: str, appointment: NewAppointment, steps: Steps, actor: Actor, event: Event
    ) -> Appointment | None:
        _refuse_second_live_seat(self.store, appointment)  # the statement is atomic: nothing is written then
        if not await self.take_seat(slot, counter):
            return None
        stored = _insert(self.store, appointment)
        for before, after in steps:
            self.store.transitions.append(Transition(stored.id, before, after, *actor))
        self.store.outbox.append(event)  # the statement writes its own outbox row
        return stored

    async def get_with_reservation(self, slot_id: uuid.UUID) -> tuple[Slot | None, datetime | None]:
        return self.store.slots.get(slot_id), self.store.reserved_until.get(slot_id)

    async def take_seat(self, slot: Slot, counter: str) -> bool:
        current = self.store.slots.get(slot.id)
        if current is None or current.version != slot.version or current.status != "open" or current.remaining <= 0:
            return False
        self._write(current, **{counter: getattr(current, counter) + 1})
        return True

    async def release_seat(self, slot_id: uuid.UUID, counter: str) -> None:
        current = self.store.slots[slot_id]
        if getattr(current, counter) <= 0:
            raise asyncpg.CheckViolationError("slot counters may not go below zero")
        self._write(current, **{counter: getattr(current, counter) - 1})

    async def convert_held_seat(self, slot_id: uuid.UUID) -> None:
        current = self.store.slots[slot_id]
        if current.held <= 0:
            raise asyncpg.CheckViolationError("slot counters may not go below zero")
        self._write(current, held=current.held - 1, booked=current.booked + 1)

    async def reserve_for_waitlist(self, slot_id: uuid.UUID, until: datetime | None) -> None:
        self.store.reserved_until[slot_id] = until
        self._write(self.store.slots[slot_id])

    async def end_reservation(self, slot_id: uuid.UUID) -> Slot | None:
        if slot_id not in self.store.slots or self.store.reserved_until.get(slot_id) is None:
            return None
        self.store.reserved_until[slot_id] = None
        return self._write(self.store.slots[slot_id])

    async def lock_open_within(
        self, provider_id: uuid.UUID, starts_at: datetime, ends_at: datetime, now: datetime
    ) -> list[uuid.UUID]:
        found = sorted(
            (s for s in self.store.slots.values() if s.provider_id == provider_id and s.status == "open"
             and s.starts_at < ends_at and s.ends_at > starts_at and s.starts_at > now),
            key=lambda s: s.starts_at)
        self.store.row_locks.extend(s.id for s in found)
        return [s.id for s in found]

    async def block(self, slot_ids: list[uuid.UUID]) -> list[Slot]:
        blocked = [self._write(self.store.slots[i], status="blocked") for i in slot_ids
                   if self.store.slots[i].status == "open"]
        return sorted(blocked, key=lambda s: s.starts_at)

    async def add_time_off(
        self, provider_id: uuid.UUID, starts_at: datetime, ends_at: datetime, reason: str,
        created_by: uuid.UUID | None,
    ) -> TimeOffRecord:
        record = TimeOffRecord(uuid.uuid4(), provider_id, starts_at, ends_at, reason, self.store.now)
        self.store.time_off.append(record)
        return record

    def _write(self, slot: Slot, **changes: Any) -> Slot:
        written = dataclasses.replace(slot, version=slot.version + 1, **changes)
        self.store.slots[slot.id] = written
        return written


def _refuse_second_live_seat(store: Store, new: NewAppointment) -> None:
    if any(a.client_id == new.client_id and a.slot_id == new.slot_id and a.status in LIVE
           for a in store.appointments.values()):
        raise SecondLiveSeat("appointments_live_client_slot")


def _insert(store: Store, new: NewAppointment) -> Appointment:
    _refuse_second_live_seat(store, new)
    appointment = Appointment(
        new.id, new.status, new.slot_id, new.provider_id, new.service_id, new.client_id, new.starts_at, new.ends_at,
        new.hold_expires_at, new.origin, new.assignment, 0, new.currency, store.now, store.now, new.client_email,
        new.client_name, 0, 1, new.lock_token,
    )
    store.appointments[appointment.id] = appointment
    return appointment


class FakeAppointmentRepository(AppointmentRepository):
    """Appointments in a `Store`; every read returns a copy, as a database would."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _read(self, appointment_id: uuid.UUID) -> Appointment | None:
        found = self.store.appointments.get(appointment_id)
        return None if found is None else copy.copy(found)

    async def get(self, appointment_id: uuid.UUID) -> Appointment | None:
        return self._read(appointment_id)

    async def lock(self, appointment_id: uuid.UUID) -> Appointment | None:
        self.store.row_locks.append(appointment_id)
        return self._read(appointment_id)

    async def to_act_on(self, appointment_id: uuid.UUID) -> AppointmentToActOn | None:
        found = self._read(appointment_id)
        if found is None:
            return None
        context = self.store.contexts.get((found.provider_id, found.service_id), EventContext())
        return AppointmentToActOn(found, self.store.now, dataclasses.replace(context, currency=found.currency))

    async def confirm_hold(
        self, appointment: Appointment, status: str, actor: tuple[uuid.UUID, str], event: Event
    ) -> Appointment | None:
        current = self.store.appointments.get(appointment.id)
        if (current is None or current.version != appointment.version or current.status != HOLD_STATUS
                or current.hold_expires_at is None or current.hold_expires_at <= self.store.now):
            return None
        confirmed = self._write(current, status=status, lock_token=None, hold_expires_at=None)
        self.store.transitions.append(Transition(current.id, HOLD_STATUS, status, *actor, None))
        await FakeSlotRepository(self.store).convert_held_seat(current.slot_id)
        self.store.outbox.append(event)  # the statement writes its own outbox row
        return copy.copy(confirmed)

    async def add(self, appointment: NewAppointment) -> Appointment:
        return copy.copy(_insert(self.store, appointment))

    async def change_status(
        self, appointment: Appointment, status: str, changes: dict[str, Any]
    ) -> Appointment | None:
        current = self.store.appointments.get(appointment.id)
        if current is None or current.version != appointment.version:
            return None
        known = {f.name for f in dataclasses.fields(Appointment)}
        changed = self._write(current, status=status, **{k: v for k, v in changes.items() if k in known})
        if status in LIVE and any(
                a.id != changed.id and a.client_id == changed.client_id and a.slot_id == changed.slot_id
                and a.status in LIVE for a in self.store.appointments.values()):
            raise SecondLiveSeat("appointments_live_client_slot")
        return copy.copy(changed)

    async def record_transition(
        self, appointment_id: uuid.UUID, from_status: str | None, to_status: str, actor_id: uuid.UUID | None,
        actor_role: str | None, reason: str | None,
    ) -> None:
        self.store.transitions.append(Transition(appointment_id, from_status, to_status, actor_id, actor_role, reason))

    async def record_first_transitions(
        self, appointment_id: uuid.UUID, steps: Steps, actor_id: uuid.UUID | None, actor_role: str | None,
        reason: str | None,
    ) -> None:
        for before, after in steps:
            await self.record_transition(appointment_id, before, after, actor_id, actor_role, reason)

    async def next_ics_sequence(self, appointment_id: uuid.UUID) -> int:
        current = self.store.appointments[appointment_id]
        current.ics_sequence += 1
        return current.ics_sequence

    async def event_context(self, provider_id: uuid.UUID, service_id: uuid.UUID) -> EventContext:
        return self.store.contexts.get((provider_id, service_id), EventContext())

    async def cancellation_terms(self, service_id: uuid.UUID) -> tuple[int, CancellationPolicy]:
        price, spec = self.store.terms[service_id]
        return price, policy_from(spec)

    async def serialise_holds_of(self, client_id: uuid.UUID) -> None:
        return None

    async def count_live_holds(self, client_id: uuid.UUID) -> int:
        return sum(1 for a in self.store.appointments.values() if a.client_id == client_id
                   and a.status == HOLD_STATUS and a.hold_expires_at is not None
                   and a.hold_expires_at > self.store.now)

    async def lock_overdue_holds(self, slot_id: uuid.UUID) -> list[Appointment]:
        return self._lock_all(sorted(
            (a for a in self._overdue() if a.slot_id == slot_id), key=lambda a: a.id))

    async def lock_due_holds(self, limit: int) -> list[Appointment]:
        return self._lock_all(sorted(self._overdue(), key=lambda a: a.hold_expires_at or self.store.now)[:limit])

    async def lock_live_within(
        self, provider_id: uuid.UUID, starts_at: datetime, ends_at: datetime, now: datetime
    ) -> list[Appointment]:
        return self._lock_all(sorted(
            (a for a in self.store.appointments.values() if a.provider_id == provider_id and a.status in LIVE
             and a.starts_at < ends_at and a.ends_at > starts_at and a.starts_at > now),
            key=lambda a: (a.starts_at, a.id)))

    def _overdue(self) -> list[Appointment]:
        return [a for a in self.store.appointments.values() if a.status == HOLD_STATUS
                and a.hold_expires_at is not None and a.hold_expires_at <= self.store.now]

    def _lock_all(self, found: list[Appointment]) -> list[Appointment]:
        self.store.row_locks.extend(a.id for a in found)
        return [copy.copy(a) for a in found]

    def _write(self, current: Appointment, **changes: Any) -> Appointment:
        written = dataclasses.replace(current, version=current.version + 1, updated_at=self.store.now, **changes)
        self.store.appointments[current.id] = written
        return written


class FakeIdempotencyRepository(IdempotencyRepository):
    """Idempotency keys in a `Store` (no expiry: a test's keys live as long as the test)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def claim(self, caller_id: uuid.UUID, key: str, request_fingerprint: str) -> StoredKey | None:
        stored = self.store.keys.get((caller_id, key))
        if stored is not None:
            return stored
        self.store.keys[(caller_id, key)] = StoredKey(request_fingerprint, "in_flight", None, None)
        return None

    async def store_answer(self, caller_id: uuid.UUID, key: str, status: int, body: Any) -> None:
        stored = self.store.keys[(caller_id, key)]
        self.store.keys[(caller_id, key)] = dataclasses.replace(
            stored, state="done", response_status=status, response_body=body)

    async def release(self, caller_id: uuid.UUID, key: str) -> None:
        stored = self.store.keys.get((caller_id, key))
        if stored is not None and stored.state == "in_flight":
            del self.store.keys[(caller_id, key)]


class FakeUnitOfWork(UnitOfWork):
    """The unit of work in memory: a rollback restores the store as the transaction found it.

    `fail_next` makes the next commits fail with these errors (e.g. a serialization failure, to test the retry)."""

    def __init__(self, store: Store | None = None) -> None:
        super().__init__()
        self.store = store if store is not None else Store()
        self.commits = 0  # transactions committed
        self.autocommits = 0  # works run without a transaction (one statement each in PostgreSQL)
        self.rollbacks = 0
        self.fail_next: list[BaseException] = []
        self._snapshot: Store | None = None
        self._transactional = False
        self._bind()

    def _bind(self) -> None:
        self.slots = FakeSlotRepository(self.store)
        self.appointments = FakeAppointmentRepository(self.store)
        self.idempotency = FakeIdempotencyRepository(self.store)
        self.catalog = FakeCatalogRepository(self.store)
        self.schedules = FakeScheduleRepository(self.store)
        self.assignment = FakeAssignmentRepository(self.store)
        self.views = FakeAppointmentViews(self.store)

    async def now(self) -> datetime:
        return self.store.now

    async def _begin(self, transaction: bool) -> None:
        self._transactional = transaction
        self._snapshot = copy.deepcopy(self.store) if transaction else None

    async def _commit(self, events: Sequence[Event]) -> None:
        if self.fail_next:
            await self._rollback()
            raise self.fail_next.pop(0)
        self.store.outbox.extend(events)
        if self._transactional:
            self.commits += 1
        else:
            self.autocommits += 1
        self._snapshot = None

    async def _committed(self, actions: Sequence[AfterCommit]) -> None:
        for action in actions:
            await run_after_commit(action)

    async def _rollback(self) -> None:
        self.rollbacks += 1
        if self._snapshot is not None:
            # Restore in place: the repositories and the test keep referring to the same store.
            for name in (f.name for f in dataclasses.fields(Store)):
                setattr(self.store, name, getattr(self._snapshot, name))
            self._snapshot = None
