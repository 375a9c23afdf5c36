"""Reading a payload as its contract: the model for valid ones, a PermanentError naming the event for poison."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from smartslot_common.contracts import events as types
from smartslot_common.contracts.parsing import PAYLOAD_MODELS, UnreadablePayload, parse_payload, read_payload
from smartslot_common.contracts.payloads import AppointmentPayload, ScheduleChangedPayload, SlotPayload
from smartslot_common.messaging import Event, PermanentError


def _slot() -> dict[str, str]:
    return {"slot_id": str(uuid.uuid4()), "provider_id": str(uuid.uuid4()), "service_id": str(uuid.uuid4()),
            "starts_at": datetime(2026, 12, 1, 9, tzinfo=UTC).isoformat(),
            "ends_at": datetime(2026, 12, 1, 10, tzinfo=UTC).isoformat()}


def test_a_valid_payload_is_read_as_its_model() -> None:
    event = Event.create(types.SLOT_RELEASED, _slot() | {"released_by": "client"}, "test")

    slot = parse_payload(SlotPayload, event)

    assert slot.released_by == "client"
    assert read_payload(event) == slot


def test_a_poison_payload_is_a_permanent_error_naming_the_event_and_what_is_wrong() -> None:
    event = Event.create(types.APPOINTMENT_CONFIRMED,
                         {"appointment_id": "not-an-appointment", "client_email": "secret@example.com"}, "chaos")

    with pytest.raises(PermanentError) as raised:
        parse_payload(AppointmentPayload, event)

    error = raised.value
    assert isinstance(error, UnreadablePayload)
    assert (error.event_id, error.event_type) == (event.id, types.APPOINTMENT_CONFIRMED)
    message = str(error)
    assert message.startswith(f"appointment.confirmed {event.id}: payload is not a AppointmentPayload: ")
    assert "appointment_id: Input should be a valid UUID" in message
    assert "secret@example.com" not in message  # the payload's values stay out of the logs
    assert error.__cause__ is None


def test_read_payload_picks_the_model_by_type() -> None:
    provider = uuid.uuid4()
    event = Event.create(types.SCHEDULE_CHANGED, {"provider_id": str(provider), "service_ids": []}, "test")

    payload = read_payload(event)

    assert isinstance(payload, ScheduleChangedPayload)
    assert payload.provider_id == provider
    assert read_payload(Event.create(types.NOTIFICATION_SENT, {}, "test")) is None
    with pytest.raises(UnreadablePayload):
        read_payload(Event.create(types.SLOT_CREATED, {"slot": ["not", "a", "slot"]}, "test"))


def test_every_subscribed_event_type_has_a_payload_model() -> None:
    published = set(types.EVENT_TYPES) - {types.NOTIFICATION_SENT, types.NOTIFICATION_FAILED}
    assert set(PAYLOAD_MODELS) == published
