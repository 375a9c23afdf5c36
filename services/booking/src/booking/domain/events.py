"""Payloads of the events booking publishes (the envelope is the shared `Event`)."""

from __future__ import annotations

from typing import Any

import asyncpg


def appointment_payload(appointment: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """What consumers need to act on an appointment change without calling booking back."""
    row = dict(appointment)
    return {
        "appointment_id": str(row["id"]),
        "status": row["status"],
        "slot_id": str(row["slot_id"]),
        "provider_id": str(row["provider_id"]),
        "service_id": str(row["service_id"]),
        "client_id": str(row["client_id"]),
        "starts_at": row["starts_at"].isoformat(),
        "ends_at": row["ends_at"].isoformat(),
        "hold_expires_at": row["hold_expires_at"].isoformat() if row["hold_expires_at"] else None,
        "origin": row["origin"],
    }
