"""A seat at a service's start time: the named provider's slot, or a provider chosen for the client (seed 003).

With no provider named, the candidates are the live providers offering the service with an open slot starting
exactly then, ranked by `domain.assignment`. They are claimed in turn within the same request: one lost to another
client (its slot lock taken, its compare-and-set lost) moves on to the next. The choice and its reason are stored on the
appointment, and the round-robin cursor advances in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from booking import metrics
from booking.adapters.slot_lock import SlotLock
from booking.domain.appointment import Appointment
from booking.domain.assignment import Candidate, explain, rank
from booking.domain.errors import NoProviderAvailable, SlotHeld, SlotInPast, SlotNotFound, SlotUnavailable
from booking.service_layer import holds
from booking.service_layer.holds import BookNow, HoldPolicy, PlaceHold
from booking.service_layer.unit_of_work import UnitOfWork

LOST_CLAIM = (SlotHeld, SlotUnavailable, SlotNotFound)  # taken or gone meanwhile: the next candidate may do


@dataclass(frozen=True)
class ClaimAt:
    """A client asks for a seat of a service at a start time, naming the provider or leaving the choice to us."""

    service_id: uuid.UUID
    starts_at: datetime
    client_id: uuid.UUID
    provider_id: uuid.UUID | None = None
    instant: bool = False
    client_email: str | None = None
    client_name: str | None = None

    def command(self, slot_id: uuid.UUID, assignment: str = "chosen", reason: str | None = None) -> PlaceHold:
        """The claim on one slot this request turns into."""
        kind = BookNow if self.instant else PlaceHold
        return kind(slot_id, self.client_id, assignment=assignment, assignment_reason=reason,
                    client_email=self.client_email, client_name=self.client_name)


async def claim_at(uow: UnitOfWork, lock: SlotLock | None, policy: HoldPolicy, request: ClaimAt) -> Appointment:
    """Hold (or book) the named provider's slot at that start, or auto-assign a provider with one."""
    provider_id = request.provider_id
    if provider_id is None:
        return await _auto_assign(uow, lock, policy, request)
    slot_id = await uow.run(lambda uow: _named_slot(uow, provider_id, request), transaction=False)
    return await holds.place_hold(uow, lock, policy, request.command(slot_id))


async def _named_slot(uow: UnitOfWork, provider_id: uuid.UUID, request: ClaimAt) -> uuid.UUID:
    slot_id = await uow.assignment.slot_at(provider_id, request.service_id, request.starts_at)
    if slot_id is None:
        raise SlotNotFound("The provider has no slot of this service at that time.")
    return slot_id


async def _auto_assign(uow: UnitOfWork, lock: SlotLock | None, policy: HoldPolicy, request: ClaimAt) -> Appointment:
    ranked = rank(await uow.run(lambda uow: candidates(uow, request.service_id, request.starts_at),
                                transaction=False))
    uow.on_answer(_advance_round_robin)
    for index, candidate in enumerate(ranked):
        command = request.command(candidate.slot_id, "auto", explain(ranked, index))
        try:
            appointment = await holds.place_hold(uow, lock, policy, command)
        except LOST_CLAIM:
            metrics.LOST_CLAIMS.inc()
            continue
        metrics.AUTO_ASSIGNMENTS.labels(outcome="assigned").inc()
        return appointment
    metrics.AUTO_ASSIGNMENTS.labels(outcome="none").inc()
    raise NoProviderAvailable("No provider is available at that time.")


async def candidates(uow: UnitOfWork, service_id: uuid.UUID, starts_at: datetime) -> list[Candidate]:
    """Providers offering the service with an open slot starting exactly then; `slot_in_past` once it started."""
    if starts_at <= await uow.now():
        raise SlotInPast("That time has already started.")
    return await uow.assignment.candidates(service_id, starts_at)


async def _advance_round_robin(uow: UnitOfWork, appointment: Appointment) -> None:
    """Record the assignment on the service's round-robin cursor, in the booking's own transaction."""
    await uow.assignment.record_assignment(appointment.service_id, appointment.provider_id)
