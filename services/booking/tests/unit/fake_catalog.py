"""The catalog, schedule and assignment repositories and the appointment views in memory, over the `Store` of
`fakes` (its `catalog` tables, slots, appointments and time off), following the PostgreSQL ones' rules a test can
see: soft deletes, live rows only, keyset pages, one live provider per user, slots that may not overlap a live slot
of the provider, assignment candidates with a free public seat."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from booking.adapters.appointment_views import AppointmentListing, AppointmentViews, CalendarView
from booking.adapters.assignment_repository import AssignmentRepository
from booking.adapters.catalog_repository import CatalogRepository, Owner
from booking.adapters.ics import CalendarEntry
from booking.adapters.schedule_repository import ScheduleRepository
from booking.domain.appointment import CONFIRMED_STATUS, HOLD_STATUS, Appointment
from booking.domain.assignment import Candidate
from booking.domain.catalog import Clinic, NewProvider, NewService, Page, PageRequest, Provider, RetiredSlot, Service
from booking.domain.schedule import ProviderSchedule, SlotInterval, TimeOff, WorkingHoursRule
from booking.domain.slot import Slot

ItemT = TypeVar("ItemT", Clinic, Service, Provider)
HOLD_OR_BOOKING = (HOLD_STATUS, CONFIRMED_STATUS)


@dataclass
class CatalogTables:
    """Clinics, services, providers and weekly rules; soft-deleted ids stay in `deleted`."""

    clinics: dict[uuid.UUID, Clinic] = field(default_factory=dict)
    services: dict[uuid.UUID, Service] = field(default_factory=dict)
    providers: dict[uuid.UUID, Provider] = field(default_factory=dict)
    deleted: set[uuid.UUID] = field(default_factory=set)
    rules: dict[uuid.UUID, list[WorkingHoursRule]] = field(default_factory=dict)
    generated_until: dict[uuid.UUID, date] = field(default_factory=dict)
    ad_hoc: set[uuid.UUID] = field(default_factory=set)  # slots created by hand; the others came from rules
    last_assigned: dict[tuple[uuid.UUID, uuid.UUID], datetime] = field(default_factory=dict)  # (service, provider)


class _Tables:
    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def tables(self) -> CatalogTables:
        tables: CatalogTables = self.store.catalog
        return tables

    def _live(self, rows: Mapping[uuid.UUID, ItemT], row_id: uuid.UUID) -> ItemT | None:
        return rows.get(row_id) if row_id not in self.tables.deleted else None

    def _lock(self, row_id: uuid.UUID) -> None:
        self.store.row_locks.append(row_id)


class FakeCatalogRepository(_Tables, CatalogRepository):
    """The catalog in a `Store`."""

    async def clinics(self, page: PageRequest) -> Page[Clinic]:
        return self._page(self.tables.clinics, "name", page)

    async def clinic(self, clinic_id: uuid.UUID) -> Clinic | None:
        return self._live(self.tables.clinics, clinic_id)

    async def services(self, page: PageRequest) -> Page[Service]:
        return self._page(self.tables.services, "name", page)

    async def service(self, service_id: uuid.UUID) -> Service | None:
        return self._live(self.tables.services, service_id)

    async def providers(
        self, page: PageRequest, service_id: uuid.UUID | None = None, clinic_id: uuid.UUID | None = None
    ) -> Page[Provider]:
        providers = {
            p.id: p for p in map(self._offering_live, self.tables.providers.values())
            if (clinic_id is None or p.clinic_id == clinic_id) and (service_id is None or service_id in p.service_ids)
        }
        return self._page(providers, "display_name", page)

    async def provider(self, provider_id: uuid.UUID) -> Provider | None:
        provider = self._live(self.tables.providers, provider_id)
        return self._offering_live(provider) if provider else None

    async def provider_of_user(self, user_id: uuid.UUID) -> uuid.UUID | None:
        return next((p.id for p in self.tables.providers.values()
                     if p.user_id == user_id and p.id not in self.tables.deleted), None)

    async def add_clinic(self, name: str, timezone: str, address: str | None) -> Clinic:
        clinic = Clinic(uuid.uuid4(), name, timezone, address, self.store.now)
        self.tables.clinics[clinic.id] = clinic
        return clinic

    async def update_clinic(self, clinic_id: uuid.UUID, changes: Mapping[str, object]) -> Clinic | None:
        clinic = self._live(self.tables.clinics, clinic_id)
        if clinic is None:
            return None
        self.tables.clinics[clinic_id] = dataclasses.replace(clinic, **changes)  # type: ignore[arg-type]
        return self.tables.clinics[clinic_id]

    async def lock_clinic(self, clinic_id: uuid.UUID) -> bool:
        self._lock(clinic_id)
        return self._live(self.tables.clinics, clinic_id) is not None

    async def lock_clinic_shared(self, clinic_id: uuid.UUID) -> str | None:
        self._lock(clinic_id)
        clinic = self._live(self.tables.clinics, clinic_id)
        return clinic.timezone if clinic else None

    async def count_live_providers(self, clinic_id: uuid.UUID) -> int:
        return sum(1 for p in self.tables.providers.values()
                   if p.clinic_id == clinic_id and p.id not in self.tables.deleted)

    async def retire_clinic(self, clinic_id: uuid.UUID) -> None:
        self.tables.deleted.add(clinic_id)

    async def add_service(self, service: NewService) -> Service:
        stored = Service(uuid.uuid4(), created_at=self.store.now, **dataclasses.asdict(service))
        self.tables.services[stored.id] = stored
        return stored

    async def update_service(self, service_id: uuid.UUID, changes: Mapping[str, object]) -> Service | None:
        service = self._live(self.tables.services, service_id)
        if service is None:
            return None
        self.tables.services[service_id] = dataclasses.replace(service, **changes)  # type: ignore[arg-type]
        return self.tables.services[service_id]

    async def lock_service(self, service_id: uuid.UUID) -> bool:
        self._lock(service_id)
        return self._live(self.tables.services, service_id) is not None

    async def lock_services_shared(self, service_ids: list[uuid.UUID]) -> int:
        live = {i for i in service_ids if self._live(self.tables.services, i) is not None}
        self.store.row_locks.extend(live)
        return len(live)

    async def retire_service(self, service_id: uuid.UUID) -> None:
        self.tables.deleted.add(service_id)
        for provider_id, rules in self.tables.rules.items():
            self.tables.rules[provider_id] = [rule for rule in rules if rule.service_id != service_id]

    async def add_provider(self, provider: NewProvider, timezone: str) -> Provider | None:
        if await self.provider_of_user(provider.user_id) is not None:
            return None
        stored = Provider(uuid.uuid4(), provider.user_id, provider.clinic_id, provider.display_name, timezone,
                          self.store.now, provider.offered)
        self.tables.providers[stored.id] = stored
        return stored

    async def lock_provider(self, provider_id: uuid.UUID) -> bool:
        self._lock(provider_id)
        return self._live(self.tables.providers, provider_id) is not None

    async def retire_provider(self, provider_id: uuid.UUID) -> None:
        self.tables.deleted.add(provider_id)

    async def retire_future_slots(self, owner: Owner, owner_id: uuid.UUID) -> list[RetiredSlot]:
        retired = []
        for slot in list(self.store.slots.values()):
            if getattr(slot, owner) == owner_id and slot.starts_at > self.store.now and slot.status == "open":
                self.store.slots[slot.id] = dataclasses.replace(slot, status="deleted", version=slot.version + 1)
                retired.append(RetiredSlot(slot.provider_id, slot.service_id))
        return retired

    async def future_live_appointments(self, owner: Owner, owner_id: uuid.UUID) -> list[uuid.UUID]:
        found = sorted((a for a in self.store.appointments.values()
                        if getattr(a, owner) == owner_id and a.status in HOLD_OR_BOOKING
                        and a.starts_at > self.store.now), key=lambda a: (a.starts_at, a.id))
        return [a.id for a in found]

    def _offering_live(self, provider: Provider) -> Provider:
        offered = sorted((i for i in provider.service_ids if i not in self.tables.deleted), key=lambda i: i.bytes)
        return dataclasses.replace(provider, service_ids=offered)

    def _page(self, rows: Mapping[uuid.UUID, ItemT], sort: str, page: PageRequest) -> Page[ItemT]:
        def key(item: ItemT) -> tuple[str, bytes]:
            return getattr(item, sort), item.id.bytes

        live = sorted((item for item in rows.values() if item.id not in self.tables.deleted), key=key)
        if page.after is not None:
            after = (page.after[0], page.after[1].bytes)
            live = [item for item in live if key(item) > after]
        kept = live[: page.limit]
        more = len(live) > page.limit
        return Page(kept, (getattr(kept[-1], sort), kept[-1].id) if more else None)


class FakeScheduleRepository(_Tables, ScheduleRepository):
    """Providers' schedules in a `Store`: rules in its catalog tables, slots, appointments and time off beside."""

    async def lock_provider(self, provider_id: uuid.UUID) -> ProviderSchedule | None:
        self._lock(provider_id)
        provider = self._live(self.tables.providers, provider_id)
        if provider is None:
            return None
        return ProviderSchedule(provider.id, provider.timezone, provider.user_id,
                                self.tables.generated_until.get(provider_id))

    async def provider_exists(self, provider_id: uuid.UUID) -> bool:
        return self._live(self.tables.providers, provider_id) is not None

    async def offered_durations(self, provider_id: uuid.UUID) -> dict[uuid.UUID, timedelta]:
        provider = self.tables.providers[provider_id]
        services = [self._live(self.tables.services, i) for i in provider.service_ids]
        return {s.id: timedelta(minutes=s.duration_minutes) for s in services if s is not None}

    async def rules(self, provider_id: uuid.UUID) -> list[WorkingHoursRule]:
        return sorted(self.tables.rules.get(provider_id, []), key=lambda rule: (rule.weekday, rule.start))

    async def replace_rules(self, provider_id: uuid.UUID, rules: list[WorkingHoursRule]) -> None:
        self.tables.rules[provider_id] = list(rules)

    async def upcoming_time_off(self, provider_id: uuid.UUID, now: datetime) -> list[TimeOff]:
        return [TimeOff(t.starts_at, t.ends_at) for t in self.store.time_off
                if t.provider_id == provider_id and t.ends_at > now]

    async def drop_untouched_slots(self, provider_id: uuid.UUID, now: datetime) -> int:
        used = {a.slot_id for a in self.store.appointments.values()}
        dropped = [s.id for s in self.store.slots.values()
                   if s.provider_id == provider_id and s.id not in self.tables.ad_hoc and s.starts_at > now
                   and s.status == "open" and s.held == 0 and s.booked == 0 and s.id not in used]
        for slot_id in dropped:
            del self.store.slots[slot_id]
        return len(dropped)

    async def add_generated_slots(self, provider_id: uuid.UUID, intervals: list[SlotInterval]) -> int:
        return sum(self._insert(provider_id, interval, 1) is not None for interval in intervals)

    async def mark_generated_until(self, provider_id: uuid.UUID, until: date) -> None:
        self.tables.generated_until[provider_id] = until

    async def add_ad_hoc_slot(self, provider_id: uuid.UUID, interval: SlotInterval, capacity: int) -> Slot | None:
        slot = self._insert(provider_id, interval, capacity)
        if slot is not None:
            self.tables.ad_hoc.add(slot.id)
        return slot

    async def provider_of_slot(self, slot_id: uuid.UUID) -> uuid.UUID | None:
        slot = self.store.slots.get(slot_id)
        return slot.provider_id if slot is not None and slot.status != "deleted" else None

    async def lock_slot(self, slot_id: uuid.UUID) -> Slot | None:
        self._lock(slot_id)
        slot = self.store.slots.get(slot_id)
        return slot if slot is not None and slot.status != "deleted" else None

    async def live_appointments_on(self, slot_id: uuid.UUID) -> list[uuid.UUID]:
        found = sorted((a for a in self.store.appointments.values()
                        if a.slot_id == slot_id and a.status in HOLD_OR_BOOKING), key=lambda a: (a.created_at, a.id))
        return [a.id for a in found]

    async def retire_slot(self, slot_id: uuid.UUID) -> Slot:
        slot: Slot = self.store.slots[slot_id]
        retired = dataclasses.replace(slot, status="deleted", version=slot.version + 1)
        self.store.slots[slot_id] = retired
        return retired

    async def providers_with_hours(self) -> list[uuid.UUID]:
        return sorted((i for i, rules in self.tables.rules.items() if rules and i not in self.tables.deleted),
                      key=lambda i: i.bytes)

    def _insert(self, provider_id: uuid.UUID, interval: SlotInterval, capacity: int) -> Slot | None:
        """The exclusion constraint: no two live (not deleted) slots of one provider overlap."""
        if any(s.provider_id == provider_id and s.status != "deleted" and s.starts_at < interval.ends_at
               and interval.starts_at < s.ends_at for s in self.store.slots.values()):
            return None
        slot = Slot(uuid.uuid4(), provider_id, interval.service_id, interval.starts_at, interval.ends_at, capacity,
                    0, 0, "open", 1)
        self.store.slots[slot.id] = slot
        return slot


class FakeAssignmentRepository(_Tables, AssignmentRepository):
    """Assignment's reads over a `Store`, and its round-robin cursor in the catalog tables."""

    async def slot_at(self, provider_id: uuid.UUID, service_id: uuid.UUID, starts_at: datetime) -> uuid.UUID | None:
        return next((s.id for s in self.store.slots.values() if (s.provider_id, s.service_id, s.starts_at) == (
            provider_id, service_id, starts_at) and s.status != "deleted"), None)

    async def candidates(self, service_id: uuid.UUID, starts_at: datetime) -> list[Candidate]:
        found = []
        for slot in self.store.slots.values():
            provider = self._live(self.tables.providers, slot.provider_id)
            if (slot.service_id, slot.starts_at, slot.status) != (service_id, starts_at, "open") or provider is None \
                    or service_id not in provider.service_ids or self._live(self.tables.services, service_id) is None \
                    or not self._public(slot) or (slot.remaining <= 0 and not self._overdue_hold_on(slot)):
                continue
            day = slot.starts_at.astimezone(ZoneInfo(provider.timezone)).date()
            found.append(Candidate(provider.id, slot.id, self._booked_minutes(provider, day), day,
                                   self.tables.last_assigned.get((service_id, provider.id))))
        return found

    async def record_assignment(self, service_id: uuid.UUID, provider_id: uuid.UUID) -> None:
        self.tables.last_assigned[(service_id, provider_id)] = self.store.now

    def _public(self, slot: Slot) -> bool:
        reserved: datetime | None = self.store.reserved_until.get(slot.id)
        return reserved is None or reserved <= self.store.now

    def _overdue_hold_on(self, slot: Slot) -> bool:
        return any(a.slot_id == slot.id and a.status == HOLD_STATUS and a.hold_expires_at is not None
                   and a.hold_expires_at <= self.store.now for a in self.store.appointments.values())

    def _booked_minutes(self, provider: Provider, day: date) -> int:
        zone = ZoneInfo(provider.timezone)
        seconds = sum((a.ends_at - a.starts_at).total_seconds() for a in self.store.appointments.values()
                      if a.provider_id == provider.id and a.starts_at.astimezone(zone).date() == day
                      and _occupies(a, self.store.now))
        return int(seconds // 60)


def _occupies(appointment: Appointment, now: datetime) -> bool:
    """Confirmed, or a hold within its deadline."""
    if appointment.status == CONFIRMED_STATUS:
        return True
    return appointment.status == HOLD_STATUS and appointment.hold_expires_at is not None \
        and appointment.hold_expires_at > now


class FakeAppointmentViews(_Tables, AppointmentViews):
    """The read side over a `Store`."""

    async def listing(self, wanted: AppointmentListing) -> list[Appointment]:
        def key(a: Appointment) -> tuple[datetime, bytes]:
            return a.starts_at, a.id.bytes

        after = (wanted.after[0], wanted.after[1].bytes) if wanted.after else None
        found = sorted((a for a in self.store.appointments.values()
                        if (wanted.client_id is None or a.client_id == wanted.client_id)
                        and (wanted.provider_id is None or a.provider_id == wanted.provider_id)
                        and (wanted.status is None or a.status == wanted.status)
                        and (wanted.starts_from is None or a.starts_at >= wanted.starts_from)
                        and (wanted.starts_to is None or a.starts_at < wanted.starts_to)
                        and (after is None or key(a) > after)), key=key)
        return [dataclasses.replace(a) for a in found[: wanted.limit]]

    async def calendar_view(self, appointment_id: uuid.UUID) -> CalendarView | None:
        a = self.store.appointments.get(appointment_id)
        if a is None:
            return None
        service, provider = self.tables.services[a.service_id], self.tables.providers[a.provider_id]
        clinic = self.tables.clinics[provider.clinic_id]
        entry = CalendarEntry(a.id, a.status, a.starts_at, a.ends_at, a.ics_sequence, service.name,
                              provider.display_name, clinic.name, clinic.address, a.updated_at)
        return CalendarView(entry, a.client_id, a.provider_id)
