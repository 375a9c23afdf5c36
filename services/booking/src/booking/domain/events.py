"""Payloads of the events booking publishes, built as their shared contract models
(`smartslot_common.contracts.payloads`) and written as the envelope carries them (the envelope is the shared
`Event`). Building through the model checks every payload against the schema consumers parse with."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from booking.domain.catalog import RetiredSlot, retired_by_provider
from booking.domain.slot import Slot
from smartslot_common.contracts.payloads import AppointmentPayload, ScheduleChangedPayload, SlotPayload
from smartslot_common.rows import Row

CONTEXT_FIELDS = (
    "timezone", "provider_name", "provider_user_id", "service_name", "price_cents", "clinic_name", "clinic_address",
)


def appointment_payload(
    appointment: Row, context: Mapping[str, Any] | None = None, **changes: Any
) -> dict[str, Any]:
    """What consumers need to act on an appointment change without calling booking back (`AppointmentPayload`):
    the appointment row, its `context` (zone, names, place) and the event's own `changes` (a cancellation's fee,
    who cancelled and why; a reschedule's `previous` slot; the `ics_sequence`), which win over the row."""
    context = context or {}
    fields = {
        "appointment_id": appointment["id"], "status": appointment["status"], "slot_id": appointment["slot_id"],
        "provider_id": appointment["provider_id"], "service_id": appointment["service_id"],
        "client_id": appointment["client_id"], "starts_at": appointment["starts_at"],
        "ends_at": appointment["ends_at"], "hold_expires_at": appointment.get("hold_expires_at") or None,
        "origin": appointment["origin"], "currency": appointment.get("currency"),
        "client_email": appointment.get("client_email"), "client_name": appointment.get("client_name"),
        "ics_sequence": appointment.get("ics_sequence") or 0,
    }
    fields.update({field: context.get(field) for field in CONTEXT_FIELDS})
    fields.update(changes)
    return AppointmentPayload.model_validate(fields).to_wire()


def slot_released_payload(appointment: Row, released_by: str) -> dict[str, Any]:
    """`slot.released` (`SlotPayload`): which seat came free, and who freed it (no appointment: the waitlist handed
    its held seat back)."""
    return SlotPayload.model_validate({
        "slot_id": appointment["slot_id"], "provider_id": appointment["provider_id"],
        "service_id": appointment["service_id"], "starts_at": appointment["starts_at"],
        "ends_at": appointment["ends_at"], "released_by": released_by, "appointment_id": appointment.get("id"),
    }).to_wire()


def slot_payload(slot: Slot, reason: str | None = None) -> SlotPayload:
    """`slot.created`, or `slot.blocked` with its `reason`: which slot, whose, and when."""
    fields: dict[str, Any] = {"reason": reason} if reason is not None else {}
    return SlotPayload(slot_id=slot.id, provider_id=slot.provider_id, service_id=slot.service_id,
                       starts_at=slot.starts_at, ends_at=slot.ends_at, **fields)


def schedule_changed_payload(
    provider_id: uuid.UUID, service_ids: Iterable[uuid.UUID], reason: str, *, created: int = 0, removed: int = 0
) -> ScheduleChangedPayload:
    """`schedule.changed`: a provider's future slots of these services changed in bulk, and by how many."""
    return ScheduleChangedPayload(
        provider_id=provider_id, service_ids=sorted(set(service_ids), key=str), reason=reason,
        slots_created=created, slots_removed=removed,
    )


def schedule_changes_of_retired(retired: Iterable[RetiredSlot], reason: str) -> list[ScheduleChangedPayload]:
    """One `schedule.changed` per provider whose future slots were retired, naming the services affected."""
    return [
        schedule_changed_payload(provider_id, (slot.service_id for slot in slots), reason, removed=len(slots))
        for provider_id, slots in retired_by_provider(retired).items()
    ]
