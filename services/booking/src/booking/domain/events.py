"""Payloads of the events booking publishes (the envelope is the shared `Event`; the schemas are the shared
`smartslot_common.contracts.payloads`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartslot_common.rows import Row

CONTEXT_FIELDS = (
    "timezone", "provider_name", "provider_user_id", "service_name", "price_cents", "clinic_name", "clinic_address",
)


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def appointment_payload(appointment: Row, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What consumers need to act on an appointment change without calling booking back (`AppointmentPayload`)."""
    row, context = dict(appointment), dict(context or {})
    payload = {
        "appointment_id": str(row["id"]), "status": row["status"], "slot_id": str(row["slot_id"]),
        "provider_id": str(row["provider_id"]), "service_id": str(row["service_id"]),
        "client_id": str(row["client_id"]), "starts_at": row["starts_at"].isoformat(),
        "ends_at": row["ends_at"].isoformat(),
        "hold_expires_at": row["hold_expires_at"].isoformat() if row.get("hold_expires_at") else None,
        "origin": row["origin"], "currency": row.get("currency"), "client_email": row.get("client_email"),
        "client_name": row.get("client_name"), "ics_sequence": row.get("ics_sequence") or 0,
    }
    payload.update({field: context.get(field) for field in CONTEXT_FIELDS})
    payload["provider_user_id"] = _text(payload["provider_user_id"])
    return payload


def slot_released_payload(appointment: Row, released_by: str) -> dict[str, Any]:
    """`slot.released` (`SlotPayload`): which seat came free, and who freed it."""
    return {
        "slot_id": str(appointment["slot_id"]), "provider_id": str(appointment["provider_id"]),
        "service_id": str(appointment["service_id"]), "starts_at": appointment["starts_at"].isoformat(),
        "ends_at": appointment["ends_at"].isoformat(), "released_by": released_by,
        "appointment_id": _text(appointment.get("id")),
    }
