"""Hold expiry: holds past their deadline become `expired` and give their seat back (I4).

Deadlines are read on the database clock. Due holds are taken in small batches with `FOR UPDATE SKIP LOCKED`, so
any number of booking processes can sweep at once: each hold is expired by exactly one of them, and a hold being
confirmed right now (its row locked by the confirmation) is simply left for the next round.
"""

from __future__ import annotations

from booking import metrics
from booking.adapters.slot_lock import SlotLock
from booking.domain.appointment import Appointment
from booking.service_layer.seats import expire_within, release_lock_after_commit
from booking.service_layer.unit_of_work import UnitOfWork

BATCH_SIZE = 100
REASON = "hold deadline passed"


async def expire_batch(uow: UnitOfWork, lock: SlotLock | None, batch_size: int = BATCH_SIZE) -> list[Appointment]:
    """Expire up to `batch_size` due holds inside the caller's transaction, their slot locks freed after the commit;
    return them as they were (row-locked)."""
    due = await uow.appointments.lock_due_holds(batch_size)
    for appointment in due:
        # `expire_within` is the one expiry path (confirm uses it too): `transition(..., "expire", None, ...)`, the
        # held seat back, `appointment.expired` + `slot.released` recorded.
        await expire_within(uow, appointment, REASON)
        # After the commit: the slot is visibly free before its lock goes.
        release_lock_after_commit(uow, lock, appointment)
    return due


async def sweep(uow: UnitOfWork, lock: SlotLock | None, batch_size: int = BATCH_SIZE) -> int:
    """Expire every hold due now, one short transaction per batch; return how many this process expired."""
    total = 0
    while True:
        expired = await uow.run(lambda uow: expire_batch(uow, lock, batch_size))
        metrics.HOLD_EXPIRIES.inc(len(expired))
        total += len(expired)
        if len(expired) < batch_size:
            return total
