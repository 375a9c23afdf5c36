"""The `notifier.appointment_versions` table: the newest calendar sequence seen for each appointment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from smartslot_common.db import Connection


@dataclass(frozen=True)
class Advance:
    """Whether the event is the newest seen for its appointment, and the status the notifier knew before."""

    newest: bool
    previous_status: str | None


async def advance(connection: Connection, appointment_id: uuid.UUID, sequence: int, status: str) -> Advance:
    """Record this version unless a newer one already arrived (then the event is stale and changes nothing).

    Events of one appointment may be handled at the same time by several processes: the row lock taken here (by
    the insert, or by the read of an existing row) orders them until commit. The first event of an appointment
    costs one statement.
    """
    inserted = await connection.fetchval(
        "INSERT INTO appointment_versions (appointment_id, ics_sequence, status) VALUES ($1, $2, $3) "
        "ON CONFLICT (appointment_id) DO NOTHING RETURNING true",
        appointment_id, sequence, status,
    )
    if inserted:
        return Advance(True, None)
    previous = await connection.fetchrow(
        "SELECT ics_sequence, status FROM appointment_versions WHERE appointment_id = $1 FOR UPDATE", appointment_id
    )
    assert previous is not None  # the insert conflicted with it, and versions are never deleted
    if previous["ics_sequence"] >= sequence:
        return Advance(False, previous["status"])
    await connection.execute(
        "UPDATE appointment_versions SET ics_sequence = $2, status = $3, updated_at = now() WHERE appointment_id = $1",
        appointment_id, sequence, status,
    )
    return Advance(True, previous["status"])
