"""The consumer reads each event's payload once, as its contract model, and notes the first it cannot read."""

from __future__ import annotations

import uuid

from availability.entrypoints.consumers import Readings
from smartslot_common.contracts.payloads import ScheduleChangedPayload, SlotPayload
from smartslot_common.messaging import Event, PermanentError

SLOT = {"slot_id": str(uuid.uuid4()), "provider_id": str(uuid.uuid4()), "service_id": str(uuid.uuid4()),
        "starts_at": "2026-12-01T09:00:00+00:00", "ends_at": "2026-12-01T09:30:00+00:00"}


def test_every_payload_is_read_as_its_model() -> None:
    read = Readings.of([Event.create("slot.created", SLOT, "booking"),
                        Event.create("schedule.changed", {"provider_id": SLOT["provider_id"]}, "booking")])

    assert read.unreadable is None
    assert [type(payload) for payload in read.payloads] == [SlotPayload, ScheduleChangedPayload]


def test_a_poison_payload_is_noted_as_a_permanent_error_naming_its_event() -> None:
    poison = Event.create("slot.released", {"slot": ["not", "a", "slot"]}, "chaos")

    read = Readings.of([Event.create("slot.created", SLOT, "booking"), poison])

    assert isinstance(read.unreadable, PermanentError)
    assert read.unreadable.event_id == poison.id
