"""Moving an appointment from one status to the next: the one place that changes `status`.

The State pattern decides whether the action is allowed (`409 invalid_transition` otherwise); the row is updated by
compare-and-set on its `version`, and every transition leaves an audit row: who, when, from, to, why.
"""

from __future__ import annotations

from typing import Any

from booking import metrics
from booking.domain.appointment import Appointment, state_of
from booking.domain.errors import InvalidTransition
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.http.identity import Caller

SYSTEM_ACTOR = None  # transitions made by SmartSlot itself (the hold sweeper) carry no user


async def transition(
    uow: UnitOfWork, appointment: Appointment, action: str, actor: Caller | None, reason: str | None = None,
    **changes: Any,
) -> Appointment:
    """Apply `action` to an appointment read with `uow.appointments.lock`; return it as updated.

    `changes` are further columns to set in the same statement (e.g. `fee_cents`, `hold_expires_at`).
    """
    next_status = state_of(appointment.status).next_for(action)
    changed = await uow.appointments.change_status(appointment, next_status, changes)
    if changed is None:  # only possible if the caller did not lock the row: refuse rather than guess
        raise InvalidTransition("The appointment changed meanwhile; read it again.")
    metrics.TRANSITIONS.labels(to_status=next_status).inc()
    await uow.appointments.record_transition(
        appointment.id, appointment.status, next_status,
        actor.user_id if actor else None, actor.role if actor else "system", reason,
    )
    return changed
