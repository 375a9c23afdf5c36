"""A provider's schedule on the in-memory unit of work: weekly rules made into slots in the provider's zone for the
booking horizon, time off honoured, untouched slots regenerated, the horizon job, ad-hoc slots and slot deletion,
and who may do each."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from booking.adapters.slots import TimeOffRecord
from booking.domain.catalog import NewProvider, NewService, Provider
from booking.domain.errors import ConflictingAppointments, InvalidSchedule, NotFound, SlotInPast, SlotOverlap
from booking.domain.schedule import WorkingHoursRule
from booking.service_layer import catalog, horizon, schedules
from smartslot_common.contracts.events import SCHEDULE_CHANGED, SLOT_BLOCKED, SLOT_CREATED
from smartslot_common.contracts.payloads import ScheduleChangedPayload, SlotPayload
from smartslot_common.http.identity import Caller

from .fakes import FakeUnitOfWork

BERLIN = ZoneInfo("Europe/Berlin")
HORIZON = 3  # local days: today (from 10:00, the store's clock), tomorrow and the day after
ADMIN = Caller(uuid.uuid4(), "admin")
MORNINGS = 3 + 6 + 6  # 09:00-12:00 in 30-minute slots; today only those after 10:00 local


@dataclasses.dataclass
class Setup:
    uow: FakeUnitOfWork
    provider: Provider

    @property
    def service_id(self) -> uuid.UUID:
        return self.provider.service_ids[0]

    @property
    def itself(self) -> Caller:
        return Caller(self.provider.user_id, "provider")

    def every_morning(self, service_id: uuid.UUID | None = None) -> list[WorkingHoursRule]:
        return [WorkingHoursRule(day, time(9), time(12), service_id or self.service_id) for day in range(7)]

    def slots(self, status: str = "open") -> list[datetime]:
        return sorted(s.starts_at for s in self.uow.store.slots.values()
                      if s.provider_id == self.provider.id and s.status == status)

    def local(self, days: int, hour: int, minute: int = 0) -> datetime:
        today = self.uow.store.now.astimezone(BERLIN).date()
        return datetime.combine(today + timedelta(days=days), time(hour, minute), BERLIN)


@pytest.fixture
async def setup() -> Setup:
    uow = FakeUnitOfWork()
    clinic = await catalog.create_clinic(uow, "Praxis", "Europe/Berlin", None)
    service = await catalog.create_service(uow, NewService("Checkup", 30, 5000, "EUR", {"kind": "flexible"}))
    provider = await catalog.create_provider(uow, NewProvider(uuid.uuid4(), clinic.id, "Dr. A", [service.id]))
    return Setup(uow, provider)


def _changes(uow: FakeUnitOfWork) -> list[ScheduleChangedPayload]:
    return [ScheduleChangedPayload.model_validate(e.payload) for e in uow.store.events(SCHEDULE_CHANGED)]


async def test_working_hours_make_the_horizons_slots_in_the_providers_zone(setup: Setup) -> None:
    result = await schedules.set_working_hours(setup.uow, setup.itself, setup.provider.id, setup.every_morning(),
                                               HORIZON)
    assert result.slots_created == MORNINGS
    slots = setup.slots()
    assert (slots[0], slots[-1]) == (setup.local(0, 10, 30), setup.local(2, 11, 30))
    assert len(slots) == MORNINGS
    [change] = _changes(setup.uow)
    assert (change.reason, change.service_ids, change.slots_created, change.slots_removed) == (
        "working_hours", [setup.service_id], MORNINGS, 0)
    assert await schedules.working_hours(setup.uow, ADMIN, setup.provider.id) == setup.every_morning()


async def test_no_slot_is_made_inside_time_off(setup: Setup) -> None:
    setup.uow.store.time_off.append(TimeOffRecord(
        uuid.uuid4(), setup.provider.id, setup.local(1, 0), setup.local(1, 10, 15), "dentist", setup.uow.store.now))
    result = await schedules.set_working_hours(setup.uow, ADMIN, setup.provider.id, setup.every_morning(), HORIZON)
    assert result.slots_created == MORNINGS - 3  # 09:00, 09:30 and 10:00 (it ends 10:30) fall inside
    assert setup.local(1, 10, 30) in setup.slots()


async def test_rules_that_overlap_or_offer_a_foreign_service_are_refused_and_write_nothing(setup: Setup) -> None:
    overlapping = [*setup.every_morning(), WorkingHoursRule(0, time(11), time(13), setup.service_id)]
    with pytest.raises(InvalidSchedule, match="overlap"):
        await schedules.set_working_hours(setup.uow, ADMIN, setup.provider.id, overlapping, HORIZON)
    with pytest.raises(InvalidSchedule, match="does not offer"):
        await schedules.set_working_hours(setup.uow, ADMIN, setup.provider.id, setup.every_morning(uuid.uuid4()),
                                          HORIZON)
    assert await schedules.working_hours(setup.uow, ADMIN, setup.provider.id) == []
    assert (setup.slots(), setup.uow.store.events()) == ([], [])


@pytest.mark.parametrize("role", ["provider", "client"])
async def test_only_the_provider_itself_or_an_admin_manages_its_schedule(setup: Setup, role: str) -> None:
    stranger = Caller(uuid.uuid4(), role)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await schedules.set_working_hours(setup.uow, stranger, setup.provider.id, setup.every_morning(), HORIZON)
    with pytest.raises(NotFound):
        await schedules.working_hours(setup.uow, stranger, setup.provider.id)
    assert setup.slots() == []


async def test_new_rules_replace_the_untouched_slots_and_keep_the_held_and_the_hand_made(setup: Setup) -> None:
    await schedules.set_working_hours(setup.uow, ADMIN, setup.provider.id, setup.every_morning(), HORIZON)
    store = setup.uow.store
    held = next(s for s in store.slots.values() if s.starts_at == setup.local(1, 9))
    store.add_appointment(held)
    hand_made = await schedules.create_slot(setup.uow, ADMIN, schedules.CreateSlot(
        setup.provider.id, setup.service_id, setup.local(1, 15), 2))
    afternoons = [WorkingHoursRule(day, time(14), time(16), setup.service_id) for day in range(7)]

    result = await schedules.set_working_hours(setup.uow, ADMIN, setup.provider.id, afternoons, HORIZON)

    assert result.slots_created == 3 * 4 - 1  # tomorrow's 15:00 is the hand-made slot's time
    assert {held.id, hand_made.id} <= store.slots.keys()
    assert _changes(setup.uow)[-1].slots_removed == MORNINGS - 1


async def test_the_horizon_job_generates_each_day_once(setup: Setup) -> None:
    await schedules.set_working_hours(setup.uow, ADMIN, setup.provider.id, setup.every_morning(), HORIZON)
    provider_ids = await setup.uow.schedules.providers_with_hours()
    assert await horizon.extend(setup.uow, provider_ids, HORIZON) == 0

    setup.uow.store.now += timedelta(days=1)
    assert await horizon.extend(setup.uow, provider_ids, HORIZON) == 6
    assert await horizon.extend(setup.uow, provider_ids, HORIZON) == 0
    assert [(c.reason, c.slots_created) for c in _changes(setup.uow)] == [("working_hours", MORNINGS), ("horizon", 6)]

    await catalog.delete_provider(setup.uow, setup.provider.id)
    setup.uow.store.now += timedelta(days=1)
    assert await horizon.extend(setup.uow, provider_ids, HORIZON) == 0  # deleted since the job listed it


async def test_an_ad_hoc_slot_is_announced(setup: Setup) -> None:
    slot = await schedules.create_slot(setup.uow, setup.itself, schedules.CreateSlot(
        setup.provider.id, setup.service_id, setup.local(1, 18), 3))
    assert (slot.ends_at - slot.starts_at, slot.capacity, slot.status) == (timedelta(minutes=30), 3, "open")
    [event] = setup.uow.store.events(SLOT_CREATED)
    assert SlotPayload.model_validate(event.payload).slot_id == slot.id
    assert "reason" not in event.payload


@pytest.mark.parametrize(("starts", "refusal"), [
    ((0, 9), SlotInPast), ((1, 12), SlotOverlap), ((1, 9, 15), SlotOverlap),
])
async def test_an_ad_hoc_slot_in_the_past_in_time_off_or_over_another_is_refused(
    setup: Setup, starts: tuple[int, ...], refusal: type[Exception]
) -> None:
    setup.uow.store.time_off.append(TimeOffRecord(
        uuid.uuid4(), setup.provider.id, setup.local(1, 12), setup.local(1, 13), "lunch", setup.uow.store.now))
    await schedules.create_slot(setup.uow, ADMIN, schedules.CreateSlot(
        setup.provider.id, setup.service_id, setup.local(1, 9), 1))
    with pytest.raises(refusal):
        await schedules.create_slot(setup.uow, ADMIN, schedules.CreateSlot(
            setup.provider.id, setup.service_id, setup.local(*starts), 1))
    assert len(setup.slots()) == 1


async def test_an_ad_hoc_slot_is_of_a_service_the_provider_offers(setup: Setup) -> None:
    with pytest.raises(InvalidSchedule):
        await schedules.create_slot(setup.uow, ADMIN, schedules.CreateSlot(
            setup.provider.id, uuid.uuid4(), setup.local(1, 9), 1))


async def test_a_free_future_slot_is_deleted_and_announced_as_blocked(setup: Setup) -> None:
    slot = await schedules.create_slot(setup.uow, setup.itself, schedules.CreateSlot(
        setup.provider.id, setup.service_id, setup.local(1, 9), 1))
    await schedules.delete_slot(setup.uow, setup.itself, slot.id)
    assert setup.slots("deleted") == [slot.starts_at]
    [event] = setup.uow.store.events(SLOT_BLOCKED)
    assert SlotPayload.model_validate(event.payload).reason == "deleted"
    with pytest.raises(NotFound):
        await schedules.delete_slot(setup.uow, setup.itself, slot.id)


async def test_a_slot_that_is_held_started_or_someone_elses_is_not_deleted(setup: Setup) -> None:
    store = setup.uow.store
    held = store.add_slot(provider_id=setup.provider.id, service_id=setup.service_id)
    hold = store.add_appointment(held)
    started = store.add_slot(starts_in=-timedelta(minutes=5), provider_id=setup.provider.id)
    with pytest.raises(ConflictingAppointments) as refused:
        await schedules.delete_slot(setup.uow, ADMIN, held.id)
    assert refused.value.extra == {"appointment_ids": [str(hold.id)]}
    with pytest.raises(SlotInPast):
        await schedules.delete_slot(setup.uow, ADMIN, started.id)
    with pytest.raises(NotFound, match="No such slot"):
        await schedules.delete_slot(setup.uow, Caller(uuid.uuid4(), "provider"), held.id)
    assert setup.slots("deleted") == []
    assert store.events() == []
