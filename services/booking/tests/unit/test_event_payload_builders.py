"""Booking's event payloads are built through the shared contract models and keep the wire JSON as it was: the same
field names, and values written as before (UUIDs as text, instants in `isoformat()`'s form)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from booking.domain.events import appointment_payload, slot_released_payload

STARTS = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
IDS = {name: uuid.uuid4() for name in ("id", "slot_id", "provider_id", "service_id", "client_id", "user")}


def _row(**changes: object) -> dict[str, object]:
    return {
        "id": IDS["id"], "status": "locked", "slot_id": IDS["slot_id"], "provider_id": IDS["provider_id"],
        "service_id": IDS["service_id"], "client_id": IDS["client_id"], "starts_at": STARTS,
        "ends_at": STARTS + timedelta(minutes=30), "hold_expires_at": STARTS - timedelta(hours=1),
        "origin": "client", "currency": "EUR", "client_email": "ada@example.com", "client_name": "Ada",
        "ics_sequence": None,
    } | changes


CONTEXT = {"timezone": "Europe/Berlin", "provider_name": "Dr Who", "provider_user_id": IDS["user"],
           "service_name": "Check-up", "price_cents": 5000, "clinic_name": "North", "clinic_address": None}


def test_an_appointment_payload_is_the_wire_json_it_always_was() -> None:
    assert appointment_payload(_row(), CONTEXT) == {
        "appointment_id": str(IDS["id"]), "status": "locked", "slot_id": str(IDS["slot_id"]),
        "provider_id": str(IDS["provider_id"]), "service_id": str(IDS["service_id"]),
        "client_id": str(IDS["client_id"]), "starts_at": "2026-12-01T09:30:00+00:00",
        "ends_at": "2026-12-01T10:00:00+00:00", "hold_expires_at": "2026-12-01T08:30:00+00:00", "origin": "client",
        "currency": "EUR", "client_email": "ada@example.com", "client_name": "Ada", "ics_sequence": 0,
        "timezone": "Europe/Berlin", "provider_name": "Dr Who", "provider_user_id": str(IDS["user"]),
        "service_name": "Check-up", "price_cents": 5000, "clinic_name": "North", "clinic_address": None,
    }


def test_without_context_or_hold_the_names_are_null() -> None:
    payload = appointment_payload(_row(status="confirmed", hold_expires_at=None))
    assert payload["hold_expires_at"] is None
    assert {field: payload[field] for field in CONTEXT} == dict.fromkeys(CONTEXT)


def test_an_events_own_changes_win_over_the_row() -> None:
    previous = {"slot_id": str(uuid.uuid4()), "provider_id": str(IDS["provider_id"]),
                "starts_at": "2026-11-30T09:30:00+00:00", "ends_at": "2026-11-30T10:00:00+00:00"}
    cancelled = appointment_payload(_row(status="cancelled"), CONTEXT, fee_cents=250, currency="USD",
                                    cancelled_by="client", reason=None, ics_sequence=3)
    moved = appointment_payload(_row(), CONTEXT, previous=previous, ics_sequence=1)

    assert (cancelled["fee_cents"], cancelled["currency"], cancelled["cancelled_by"], cancelled["reason"]) == (
        250, "USD", "client", None)
    assert cancelled["ics_sequence"] == 3
    assert moved["previous"] == previous


def test_a_payload_the_contract_refuses_is_never_written() -> None:
    with pytest.raises(ValidationError):
        appointment_payload(_row(origin="walk-in"))
    with pytest.raises(ValidationError):
        appointment_payload(_row(starts_at=datetime(2026, 12, 1, 9, 30)))  # no offset


def test_a_released_seat_names_the_slot_who_freed_it_and_the_appointment() -> None:
    assert slot_released_payload(_row(), "provider") == {
        "slot_id": str(IDS["slot_id"]), "provider_id": str(IDS["provider_id"]), "service_id": str(IDS["service_id"]),
        "starts_at": "2026-12-01T09:30:00+00:00", "ends_at": "2026-12-01T10:00:00+00:00", "released_by": "provider",
        "appointment_id": str(IDS["id"]),
    }
    assert slot_released_payload(_row(id=None), "waitlist")["appointment_id"] is None
