"""The event payload contracts: what producers write reads back the same, old payloads still parse, poison does not,
and the `.ics` UID is one scheme."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from smartslot_common.contracts.calendar import ics_uid
from smartslot_common.contracts.payloads import (
    AppointmentPayload,
    PreviousSlot,
    ScheduleChangedPayload,
    SlotPayload,
    WaitlistJoinedPayload,
    WaitlistOfferPayload,
)

STARTS = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
ENDS = STARTS + timedelta(minutes=30)


def _appointment(**changes: object) -> dict[str, object]:
    return {
        "appointment_id": str(uuid.uuid4()), "status": "confirmed", "slot_id": str(uuid.uuid4()),
        "provider_id": str(uuid.uuid4()), "service_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()),
        "starts_at": STARTS.isoformat(), "ends_at": ENDS.isoformat(), "hold_expires_at": None, "origin": "client",
        "currency": "EUR", "client_email": "ada@example.com", "client_name": "Ada", "ics_sequence": 2,
        "timezone": "Europe/Berlin", "provider_name": "Dr Who", "provider_user_id": str(uuid.uuid4()),
        "service_name": "Check-up", "price_cents": 5000, "clinic_name": "North", "clinic_address": None,
    } | changes


def test_an_appointment_payload_round_trips_to_the_same_wire_json() -> None:
    previous = {"slot_id": str(uuid.uuid4()), "provider_id": str(uuid.uuid4()),
                "starts_at": (STARTS - timedelta(days=1)).isoformat(), "ends_at": STARTS.isoformat()}
    wire = _appointment(fee_cents=0, cancelled_by="client", reason=None, previous=previous)

    assert AppointmentPayload.model_validate(wire).to_wire() == wire


def test_instants_keep_the_isoformat_offset_form_on_the_wire() -> None:
    berlin = timezone(timedelta(hours=1))
    payload = AppointmentPayload.model_validate(
        _appointment(starts_at=STARTS.astimezone(berlin), ends_at=ENDS, hold_expires_at=STARTS))

    wire = payload.to_wire()

    assert (wire["starts_at"], wire["ends_at"]) == ("2026-12-01T10:30:00+01:00", "2026-12-01T10:00:00+00:00")
    assert wire["hold_expires_at"] == "2026-12-01T09:30:00+00:00"


def test_fields_the_producer_left_out_stay_out_and_nones_it_set_stay_null() -> None:
    wire = SlotPayload(slot_id=uuid.uuid4(), provider_id=uuid.uuid4(), service_id=uuid.uuid4(), starts_at=STARTS,
                       ends_at=ENDS, appointment_id=None).to_wire()

    assert set(wire) == {"slot_id", "provider_id", "service_id", "starts_at", "ends_at", "appointment_id"}
    assert wire["appointment_id"] is None


@pytest.mark.parametrize("poison", [
    {"appointment_id": "not-an-appointment"},
    {"slot": ["not", "a", "slot"]},
    {},
])
def test_a_poison_payload_is_refused_by_every_contract(poison: dict[str, object]) -> None:
    for model in (AppointmentPayload, SlotPayload, ScheduleChangedPayload, WaitlistOfferPayload,
                  WaitlistJoinedPayload):
        with pytest.raises(ValidationError):
            model.model_validate(poison)


def test_an_appointment_with_a_naive_time_or_an_unknown_origin_is_refused() -> None:
    with pytest.raises(ValidationError):
        AppointmentPayload.model_validate(_appointment(starts_at="2026-12-01T09:30:00"))
    with pytest.raises(ValidationError):
        AppointmentPayload.model_validate(_appointment(origin="walk-in"))


def test_fields_a_consumer_does_not_know_are_ignored() -> None:
    payload = AppointmentPayload.model_validate(_appointment(brand_new_field=1))
    assert "brand_new_field" not in payload.to_wire()


def test_schedule_changed_of_either_producer_parses_to_one_model() -> None:
    provider, service = uuid.uuid4(), uuid.uuid4()
    from_schedules = {"provider_id": str(provider), "service_ids": [str(service)], "reason": "working_hours",
                      "slots_created": 12}  # as booking's working hours wrote it, without slots_removed
    from_catalog = from_schedules | {"reason": "service_deleted", "slots_created": 0, "slots_removed": 3}

    old, new = (ScheduleChangedPayload.model_validate(wire) for wire in (from_schedules, from_catalog))

    assert (old.service_ids, old.slots_created, old.slots_removed) == ([service], 12, 0)
    assert (new.reason, new.slots_removed) == ("service_deleted", 3)
    assert new.to_wire() == from_catalog


def test_schedule_changed_without_services_means_unknown_and_negative_counts_are_refused() -> None:
    assert ScheduleChangedPayload.model_validate({"provider_id": str(uuid.uuid4())}).service_ids is None
    with pytest.raises(ValidationError):
        ScheduleChangedPayload.model_validate({"provider_id": str(uuid.uuid4()), "slots_removed": -1})


def test_waitlist_joined_reads_and_writes_its_window_as_from_and_to() -> None:
    wire = {"entry_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()), "service_id": str(uuid.uuid4()),
            "provider_id": None, "slot_id": None, "from": STARTS.isoformat(), "to": ENDS.isoformat(), "position": 1,
            "client_email": "ada@example.com", "client_name": "Ada"}

    payload = WaitlistJoinedPayload.model_validate(wire)

    assert payload.window_from == STARTS
    assert payload.to_wire() == wire


def test_a_previous_slot_is_part_of_the_appointment_contract() -> None:
    payload = AppointmentPayload.model_validate(_appointment(previous={
        "slot_id": str(uuid.uuid4()), "provider_id": str(uuid.uuid4()), "starts_at": STARTS.isoformat(),
        "ends_at": ENDS.isoformat()}))
    assert isinstance(payload.previous, PreviousSlot)


def test_the_ics_uid_is_the_appointment_id_at_smartslot() -> None:
    appointment = uuid.uuid4()
    assert ics_uid(appointment) == ics_uid(str(appointment)) == f"{appointment}@smartslot"
