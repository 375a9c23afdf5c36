"""A provider's schedule: weekly working hours turned into slot rows, ad-hoc slots, slot deletion (time off is in
`time_off`, the daily extension in `horizon`).

Every change to one provider's schedule first row-locks that provider (`uow.schedules.lock_provider`), so working
hours, time off, ad-hoc slots and the horizon job never interleave for one provider: no slot can be generated inside
time off that is being written at the same moment.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from booking import metrics
from booking.domain.errors import ConflictingAppointments, InvalidSchedule, NotFound, SlotInPast, SlotOverlap
from booking.domain.events import schedule_changed_payload
from booking.domain.events import slot_payload as slot_event_payload
from booking.domain.schedule import (
    ProviderSchedule,
    SlotInterval,
    WorkingHoursRule,
    expand,
    first_overlap,
    outside_time_off,
)
from booking.domain.slot import Slot
from booking.service_layer.access import require_provider_access
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.contracts.events import SCHEDULE_CHANGED, SLOT_BLOCKED, SLOT_CREATED
from smartslot_common.contracts.payloads import ScheduleChangedPayload
from smartslot_common.http.identity import Caller
from smartslot_common.messaging import Event

PRODUCER = "booking"


@dataclass(frozen=True)
class WorkingHoursSet:
    """What setting working hours did: the rules stored and how many slots they created."""

    provider_id: uuid.UUID
    rules: list[WorkingHoursRule]
    slots_created: int


def schedule_changed(payload: ScheduleChangedPayload) -> Event:
    """The `schedule.changed` event of `payload` (both producers, here and in `catalog`, build it this way)."""
    return Event.create(SCHEDULE_CHANGED, payload.to_wire(), PRODUCER)


async def _locked_provider(uow: UnitOfWork, provider_id: uuid.UUID) -> ProviderSchedule:
    provider = await uow.schedules.lock_provider(provider_id)
    if provider is None:
        raise NotFound("No such provider.")
    return provider


async def working_hours(uow: UnitOfWork, caller: Caller, provider_id: uuid.UUID) -> list[WorkingHoursRule]:
    """The provider's weekly rules as they were set, by weekday and start (none: an empty list)."""

    async def work(uow: UnitOfWork) -> list[WorkingHoursRule]:
        await require_provider_access(uow.catalog, caller, provider_id)
        if not await uow.schedules.provider_exists(provider_id):
            raise NotFound("No such provider.")  # an admin asking about a deleted or unknown provider
        return await uow.schedules.rules(provider_id)

    return await uow.run(work, transaction=False)


# --- generating slots from working hours ----------------------------------------------------------------------------


async def _generate(uow: UnitOfWork, provider: ProviderSchedule, first: date, until: date, now: datetime) -> int:
    """Create the future slots the rules yield on local days [first, until), outside time off; return how many."""
    durations = await uow.schedules.offered_durations(provider.id)
    # A rule for a service that was deleted (or is no longer offered) makes nothing.
    rules = [rule for rule in await uow.schedules.rules(provider.id) if rule.service_id in durations]
    intervals = [i for i in expand(rules, first, (until - first).days, provider.zone, durations) if i.starts_at > now]
    kept = outside_time_off(intervals, await uow.schedules.upcoming_time_off(provider.id, now))
    created = await uow.schedules.add_generated_slots(provider.id, kept)
    await uow.schedules.mark_generated_until(provider.id, until)
    metrics.SLOTS_GENERATED.inc(created)
    return created


async def set_working_hours(
    uow: UnitOfWork, caller: Caller, provider_id: uuid.UUID, rules: list[WorkingHoursRule], horizon_days: int
) -> WorkingHoursSet:
    """Replace the weekly rules and regenerate the untouched future slots for the booking horizon."""
    if overlap := first_overlap(rules):
        raise InvalidSchedule(f"Two rules overlap on weekday {overlap[0].weekday}.")

    async def work(uow: UnitOfWork) -> WorkingHoursSet:
        await require_provider_access(uow.catalog, caller, provider_id)
        provider = await _locked_provider(uow, provider_id)
        if unknown := {rule.service_id for rule in rules} - (await uow.schedules.offered_durations(provider_id)).keys():
            raise InvalidSchedule(f"The provider does not offer service {sorted(map(str, unknown))[0]}.")
        before = {rule.service_id for rule in await uow.schedules.rules(provider_id)}
        await uow.schedules.replace_rules(provider_id, rules)
        now = await uow.now()
        removed = await uow.schedules.drop_untouched_slots(provider_id, now)
        created = await _generate(uow, provider, *provider.horizon(now, horizon_days), now)
        services = before | {rule.service_id for rule in rules}
        uow.record(schedule_changed(
            schedule_changed_payload(provider_id, services, "working_hours", created=created, removed=removed)))
        return WorkingHoursSet(provider_id, rules, created)

    return await uow.run(work)


async def extend_provider(uow: UnitOfWork, provider_id: uuid.UUID, horizon_days: int) -> int:
    """Generate the days between what was generated before and the horizon (none when up to date)."""
    provider = await uow.schedules.lock_provider(provider_id)
    if provider is None:
        return 0  # deleted since the job listed it
    now = await uow.now()
    days = provider.days_to_extend(now, horizon_days)
    if days is None:
        return 0
    created = await _generate(uow, provider, *days, now)
    if created:
        services = {rule.service_id for rule in await uow.schedules.rules(provider_id)}
        uow.record(schedule_changed(schedule_changed_payload(provider_id, services, "horizon", created=created)))
    return created


# --- ad-hoc slots and slot deletion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateSlot:
    """An ad-hoc slot of one of the provider's services."""

    provider_id: uuid.UUID
    service_id: uuid.UUID
    starts_at: datetime
    capacity: int


async def create_slot(uow: UnitOfWork, caller: Caller, command: CreateSlot) -> Slot:
    """An ad-hoc slot; `slot_overlap` when it collides with another live slot or the provider's time off."""

    async def work(uow: UnitOfWork) -> Slot:
        await require_provider_access(uow.catalog, caller, command.provider_id)
        await _locked_provider(uow, command.provider_id)
        durations = await uow.schedules.offered_durations(command.provider_id)
        if command.service_id not in durations:
            raise InvalidSchedule("The provider does not offer this service.")
        now = await uow.now()
        if command.starts_at <= now:
            raise SlotInPast("A slot must start in the future.")
        duration = durations[command.service_id]
        interval = SlotInterval(command.service_id, command.starts_at, command.starts_at + duration)
        if not outside_time_off([interval], await uow.schedules.upcoming_time_off(command.provider_id, now)):
            raise SlotOverlap("The provider is on time off then.")
        slot = await uow.schedules.add_ad_hoc_slot(command.provider_id, interval, command.capacity)
        if slot is None:
            raise SlotOverlap("The provider already has a slot at that time.")
        uow.record(Event.create(SLOT_CREATED, slot_event_payload(slot).to_wire(), PRODUCER))
        return slot

    return await uow.run(work)


async def _lock_own_slot(uow: UnitOfWork, caller: Caller, slot_id: uuid.UUID) -> Slot:
    """The live slot, row-locked, if the caller manages its provider; someone else's slot reads exactly like a missing
    one (`404`)."""
    provider_id = await uow.schedules.provider_of_slot(slot_id)
    try:
        if provider_id is None:
            raise NotFound("No such slot.")
        await require_provider_access(uow.catalog, caller, provider_id)
    except NotFound:
        raise NotFound("No such slot.") from None
    slot = await uow.schedules.lock_slot(slot_id)
    if slot is None:  # deleted while we looked
        raise NotFound("No such slot.")
    return slot


async def delete_slot(uow: UnitOfWork, caller: Caller, slot_id: uuid.UUID) -> None:
    """Retire a future slot nobody holds or booked: its status becomes `deleted` (the row stays for history)."""

    async def work(uow: UnitOfWork) -> None:
        slot = await _lock_own_slot(uow, caller, slot_id)
        if slot.starts_at <= await uow.now():
            raise SlotInPast("This slot has already started; it stays as it is.")
        if live := await uow.schedules.live_appointments_on(slot_id):
            raise ConflictingAppointments("The slot is still held or booked.",
                                          appointment_ids=[str(appointment_id) for appointment_id in live])
        retired = await uow.schedules.retire_slot(slot_id)
        uow.record(Event.create(SLOT_BLOCKED, slot_event_payload(retired, reason="deleted").to_wire(), PRODUCER))

    await uow.run(work)
