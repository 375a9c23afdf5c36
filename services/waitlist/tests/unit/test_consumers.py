"""The waitlist's consumers read each payload once as its contract model; a payload that is not one is refused for
good (dead-lettered), before anything is decided."""

from __future__ import annotations

import pytest

from smartslot_common.contracts.events import APPOINTMENT_CONFIRMED, APPOINTMENT_EXPIRED, SLOT_RELEASED
from smartslot_common.messaging import Event, PermanentError
from waitlist.entrypoints.consumers import WaitlistHandlers

from .fakes import World


@pytest.mark.parametrize("kind", [SLOT_RELEASED, APPOINTMENT_CONFIRMED, APPOINTMENT_EXPIRED])
async def test_a_poison_payload_is_refused_for_good(kind: str):
    handler = WaitlistHandlers(World().offerer).mapping()[kind]
    poison = Event.create(kind, {"slot_id": "not a uuid"}, "booking")

    with pytest.raises(PermanentError):
        await handler(None, poison)  # type: ignore[arg-type]  # refused before any connection is used


async def test_a_confirmation_of_a_hold_the_waitlist_did_not_make_is_ignored():
    handler = WaitlistHandlers(World().offerer).mapping()[APPOINTMENT_CONFIRMED]
    payload = {
        "appointment_id": "0b6f6a1e-0000-4000-8000-000000000001", "status": "confirmed",
        "slot_id": "0b6f6a1e-0000-4000-8000-000000000002", "provider_id": "0b6f6a1e-0000-4000-8000-000000000003",
        "service_id": "0b6f6a1e-0000-4000-8000-000000000004", "client_id": "0b6f6a1e-0000-4000-8000-000000000005",
        "starts_at": "2026-12-07T09:00:00+00:00", "ends_at": "2026-12-07T10:00:00+00:00", "origin": "client",
    }

    assert await handler(None, Event.create(APPOINTMENT_CONFIRMED, payload, "booking")) is None  # type: ignore[arg-type]
