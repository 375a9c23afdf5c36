"""Hold expiry and the waitlist's reservation on the in-memory unit of work: due holds expire in batches, each in its
own transaction, their seats and slot locks given back after the commit; a reserved slot returns to the public."""

from __future__ import annotations

from datetime import timedelta

from booking.service_layer import seats, sweeper
from smartslot_common.contracts.events import APPOINTMENT_EXPIRED, SLOT_RELEASED

from .fakes import FakeUnitOfWork
from .lock_fakes import RecordingLock


async def test_due_holds_expire_in_batches_and_their_locks_go_after_each_commit() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    due = [uow.store.add_appointment(uow.store.add_slot(), hold_expires_in=timedelta(seconds=-1),
                                     lock_token=f"token-{n}") for n in range(5)]
    live = uow.store.add_appointment(uow.store.add_slot())

    assert await sweeper.sweep(uow, lock, batch_size=2) == 5

    assert uow.commits == 3, "two full batches and the last short one"
    assert {uow.store.appointments[hold.id].status for hold in due} == {"expired"}
    assert uow.store.appointments[live.id].status == "locked"
    assert {uow.store.slots[hold.slot_id].held for hold in due} == {0}
    assert len(uow.store.events(APPOINTMENT_EXPIRED)) == len(uow.store.events(SLOT_RELEASED)) == 5
    assert sorted(lock.released) == sorted((hold.slot_id, f"token-{n}") for n, hold in enumerate(due))
    assert uow.store.transitions[-1].actor_role == "system"


async def test_nothing_due_is_one_empty_pass() -> None:
    uow = FakeUnitOfWork()
    uow.store.add_appointment(uow.store.add_slot())
    assert await sweeper.sweep(uow, None) == 0
    assert uow.store.events() == []


async def test_a_reserved_slot_returns_to_the_public_and_says_so() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot()
    uow.store.reserved_until[slot.id] = uow.store.now + timedelta(minutes=10)

    assert await uow.run(lambda uow: seats.return_to_public(uow, slot.id))
    assert uow.store.reserved_until[slot.id] is None
    [released] = uow.store.events(SLOT_RELEASED)
    assert (released.payload["released_by"], released.payload["appointment_id"]) == ("waitlist", None)
    assert not await uow.run(lambda uow: seats.return_to_public(uow, slot.id)), "no longer reserved"
