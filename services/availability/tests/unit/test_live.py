"""The live slot stream's pure parts: which slots an event touched, which entries a page wants, one entry per
change of a slot's state."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson

from availability.entrypoints.stream import Matcher
from availability.service_layer.live import LiveChanges, Published, entry_of, reset_item, slot_item
from smartslot_common.contracts.payloads import AppointmentPayload, PreviousSlot, ScheduleChangedPayload, SlotPayload
from smartslot_common.live import LiveLog

SERVICE, PROVIDER, CLINIC = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
START = datetime(2026, 7, 1, 9, tzinfo=UTC)


def row(**changes: object) -> dict[str, object]:
    return {"slot_id": uuid.uuid4(), "provider_id": PROVIDER, "service_id": SERVICE, "clinic_id": CLINIC,
            "starts_at": START, "ends_at": START.replace(minute=30), "capacity": 1, "remaining": 1,
            "version": 1} | changes


def schedule_changed(*services: str) -> ScheduleChangedPayload:
    return ScheduleChangedPayload(provider_id=uuid.UUID(PROVIDER), service_ids=[uuid.UUID(s) for s in services])


def as_entry(item: dict[str, bytes | str], entry_id: str = "1-0"):  # type: ignore[no-untyped-def]
    return entry_of(entry_id, {key.encode(): value if isinstance(value, bytes) else value.encode()
                               for key, value in item.items()})


async def test_the_consumer_notes_each_touched_slot_and_the_previous_one_of_a_reschedule() -> None:
    changes = LiveChanges()
    moved_from, moved_to, created = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    times = {"starts_at": START, "ends_at": START.replace(minute=30)}
    previous = PreviousSlot(slot_id=moved_from, provider_id=uuid.UUID(PROVIDER), **times)
    changes.touched([
        AppointmentPayload(appointment_id=uuid.uuid4(), status="locked", slot_id=moved_to,
                           provider_id=uuid.UUID(PROVIDER), service_id=uuid.UUID(SERVICE), client_id=uuid.uuid4(),
                           previous=previous, **times),
        SlotPayload(slot_id=created, provider_id=uuid.UUID(PROVIDER), service_id=uuid.UUID(SERVICE), **times),
        ScheduleChangedPayload(provider_id=uuid.UUID(PROVIDER), service_ids=[uuid.UUID(SERVICE)]),
    ], fence=42)
    taken = await changes.take()
    assert taken.slots == [moved_to, moved_from, created]
    assert taken.fence == 42
    assert len(taken.schedules) == 1


async def test_changes_touched_while_the_feeder_lingers_join_its_batch() -> None:
    changes = LiveChanges()
    first, second = uuid.uuid4(), uuid.uuid4()
    times = {"starts_at": START, "ends_at": START.replace(minute=30)}
    changes.touched([SlotPayload(slot_id=first, provider_id=uuid.UUID(PROVIDER), service_id=uuid.UUID(SERVICE),
                                 **times)], fence=1)
    taking = asyncio.create_task(changes.take(linger_seconds=0.05))
    await asyncio.sleep(0)  # the feeder has woken on the first change and lingers
    changes.touched([SlotPayload(slot_id=second, provider_id=uuid.UUID(PROVIDER), service_id=uuid.UUID(SERVICE),
                                 **times)], fence=2)
    taken = await taking
    assert (taken.slots, taken.fence) == ([first, second], 2)


def test_the_public_slot_event_has_the_searchs_fields_only() -> None:
    entry = as_entry(slot_item(row(remaining=-1)))
    assert entry is not None
    assert entry.event == "slot"
    assert b'"remaining":0' in entry.data
    assert b"version" not in entry.data
    assert b"clinic_id" not in entry.data


def test_a_page_wants_its_services_slots_in_its_range_of_its_provider_and_clinic() -> None:
    page = Matcher(SERVICE, None, CLINIC, START, START.replace(hour=12))
    assert page(as_entry(slot_item(row())))
    assert not page(as_entry(slot_item(row(starts_at=START.replace(hour=13)))))
    assert not page(as_entry(slot_item(row(service_id=str(uuid.uuid4())))))
    assert not page(as_entry(slot_item(row(clinic_id=str(uuid.uuid4())))))
    assert not Matcher(SERVICE, str(uuid.uuid4()), None, START, START.replace(hour=12))(as_entry(slot_item(row())))
    assert page(as_entry(reset_item(schedule_changed(SERVICE))))
    assert not page(as_entry(reset_item(schedule_changed(str(uuid.uuid4())))))


def test_two_events_of_one_change_make_one_entry() -> None:
    published, slot_id = Published(), uuid.uuid4()
    assert published.is_new(slot_id, 3, 0)
    assert not published.is_new(slot_id, 3, 0)  # the cancellation and its seat's release
    assert published.is_new(slot_id, 4, 1)


def test_a_slots_state_older_than_one_already_streamed_is_dropped_by_the_live_log() -> None:
    slot_id, other = uuid.uuid4(), uuid.uuid4()
    log = LiveLog()
    booked = as_entry(slot_item(row(slot_id=slot_id, version=2, remaining=0)), "10-0")
    late_read = as_entry(slot_item(row(slot_id=slot_id, version=1, remaining=1)), "11-0")  # another replica's
    created = as_entry(slot_item(row(slot_id=other, version=1)), "12-0")
    log.append(entry for entry in (booked, late_read, created) if entry is not None)
    assert [(entry.id, orjson.loads(entry.data)["remaining"]) for entry in log.newer_than(None)] == [
        ("10-0", 0), ("12-0", 1)]


def test_a_slot_entry_names_its_slot_and_version_and_a_reset_neither() -> None:
    slot_id = uuid.uuid4()
    entry = as_entry(slot_item(row(slot_id=slot_id, version=7)))
    reset = as_entry(reset_item(schedule_changed(SERVICE)))
    assert entry is not None
    assert reset is not None
    assert (entry.subject, entry.version) == (str(slot_id), 7)
    assert reset.subject is None
