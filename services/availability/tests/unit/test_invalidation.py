"""What each event makes stale (read as the consumer reads it: its payload as its contract model)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from availability.domain.invalidation import DayScope, Invalidation, merged
from availability.domain.invalidation import for_event as for_payload
from smartslot_common.contracts.parsing import UnreadablePayload, read_payload
from smartslot_common.messaging import Event

SERVICE, PROVIDER, OTHER = (str(uuid.uuid4()) for _ in range(3))


def for_event(event_type: str, payload: dict) -> Invalidation:
    return for_payload(read_payload(Event.create(event_type, payload, "test")))


def appointment(**extra: object) -> dict:
    return {
        "appointment_id": str(uuid.uuid4()), "status": "confirmed", "slot_id": str(uuid.uuid4()),
        "provider_id": PROVIDER, "service_id": SERVICE, "client_id": str(uuid.uuid4()),
        "starts_at": "2026-12-01T23:30:00-02:00", "ends_at": "2026-12-02T00:00:00-02:00",
    } | extra


def test_an_appointment_event_touches_its_provider_and_utc_day():
    invalidation = for_event("appointment.confirmed", appointment())
    assert invalidation == Invalidation(days=frozenset({DayScope(SERVICE, PROVIDER, date(2026, 12, 2))}))


def test_a_reschedule_touches_the_day_it_left_too():
    previous = {"slot_id": str(uuid.uuid4()), "provider_id": OTHER, "starts_at": "2026-12-05T10:00:00+00:00",
                "ends_at": "2026-12-05T10:30:00+00:00"}
    invalidation = for_event("appointment.rescheduled", appointment(previous=previous))
    assert invalidation.days == {DayScope(SERVICE, PROVIDER, date(2026, 12, 2)),
                                 DayScope(SERVICE, OTHER, date(2026, 12, 5))}


def test_a_slot_event_touches_its_provider_and_day():
    payload = {"slot_id": str(uuid.uuid4()), "provider_id": PROVIDER, "service_id": SERVICE,
               "starts_at": "2026-12-01T10:00:00+00:00", "ends_at": "2026-12-01T10:30:00+00:00",
               "released_by": "waitlist"}
    assert for_event("slot.released", payload).days == {DayScope(SERVICE, PROVIDER, date(2026, 12, 1))}


def test_a_schedule_change_touches_every_day_of_the_services_it_names():
    invalidation = for_event("schedule.changed", {"provider_id": PROVIDER, "service_ids": [SERVICE, OTHER]})
    assert invalidation.providers == {(SERVICE, PROVIDER), (OTHER, PROVIDER)}
    assert invalidation.services == {SERVICE, OTHER}
    assert not invalidation.days
    assert not invalidation.everything


def test_a_schedule_change_without_services_touches_everything():
    assert for_event("schedule.changed", {"provider_id": PROVIDER}).everything
    assert for_event("schedule.changed", {"provider_id": PROVIDER, "service_ids": []}).everything


def test_an_unreadable_payload_touches_everything():
    assert for_payload(None).everything
    poisons = (("appointment.cancelled", {"provider_id": PROVIDER}), ("slot.created", {"slot_id": "nope"}),
               ("schedule.changed", {"service_ids": [SERVICE]}))
    for event_type, poison in poisons:
        with pytest.raises(UnreadablePayload):
            for_event(event_type, poison)


def test_other_events_touch_nothing():
    joined = {"entry_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()), "service_id": SERVICE}
    assert for_event("waitlist.joined", joined).is_empty


def test_a_batch_makes_stale_what_any_of_its_events_does():
    one = for_event("appointment.confirmed", appointment())
    other = for_event("schedule.changed", {"provider_id": OTHER, "service_ids": [SERVICE]})

    batch = merged([one, other, Invalidation()])

    assert batch.days == one.days
    assert batch.providers == other.providers
    assert batch.services == other.services
    assert not batch.everything
    assert merged([one, for_payload(None)]).everything
    assert merged([]).is_empty
