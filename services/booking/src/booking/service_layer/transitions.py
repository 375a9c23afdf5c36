"""Moving an appointment from one status to the next: the one place that changes `status`.

The State pattern decides whether the action is allowed (`409 invalid_transition` otherwise); the row is updated by
compare-and-set on its `version`, and every transition leaves an audit row: who, when, from, to, why.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from booking import metrics
from booking.adapters import repository as repo
from booking.domain.appointment import state_of
from booking.domain.errors import InvalidTransition
from smartslot_common.db import Connection
from smartslot_common.http.identity import Caller

SYSTEM_ACTOR = None  # transitions made by SmartSlot itself (the hold sweeper) carry no user


async def transition(
    connection: Connection, appointment: asyncpg.Record, action: str, actor: Caller | None,
    reason: str | None = None, **changes: Any,
) -> asyncpg.Record:
    """Apply `action` to a row read with `repo.lock_appointment`; return the updated row.

    `changes` are further columns to set in the same statement (e.g. `fee_cents`, `hold_expires_at`).
    """
    next_status = state_of(appointment["status"]).next_for(action)
    assignments = ", ".join(f"{column} = ${index}" for index, column in enumerate(changes, start=4))
    row = await connection.fetchrow(
        f"UPDATE appointments SET status = $3, version = version + 1, updated_at = now()"
        f"{', ' + assignments if assignments else ''} "
        f"WHERE id = $1 AND version = $2 RETURNING {repo.APPOINTMENT_COLUMNS}, version, lock_token",
        appointment["id"], appointment["version"], next_status, *changes.values(),
    )
    if row is None:  # only possible if the caller did not lock the row: refuse rather than guess
        raise InvalidTransition("The appointment changed meanwhile; read it again.")
    metrics.TRANSITIONS.labels(to_status=next_status).inc()
    await repo.record_transition(
        connection, appointment["id"], appointment["status"], next_status,
        actor.user_id if actor else None, actor.role if actor else "system", reason,
    )
    return row
