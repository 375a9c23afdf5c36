"""The lifecycle's business rules on the in-memory unit of work: confirming a hold (and the 410 for one past its
deadline, expired for good), cancelling with the policy's fee and the waitlist's buffer, completing and marking a
no-show once started, and who may do each. Every change commits with its events; nothing is written on a refusal."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from booking.domain.appointment import HOLD_STATUS, Appointment
from booking.domain.errors import HoldExpired, InvalidTransition, NotFound
from booking.service_layer import lifecycle
from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_EXPIRED,
    APPOINTMENT_NO_SHOW,
    SLOT_RELEASED,
)
from smartslot_common.http.identity import Caller

from .fakes import FakeUnitOfWork
from .lock_fakes import RecordingLock

ADMIN = Caller(uuid.uuid4(), "admin")
TIERED = {"kind": "tiered", "tiers": [{"within_hours": 24, "fee_percent": 50}]}  # half, within a day


def client_of(appointment: Appointment) -> Caller:
    return Caller(appointment.client_id, "client")


def held(uow: FakeUnitOfWork, **kwargs: object) -> Appointment:
    slot = uow.store.add_slot()
    return uow.store.add_appointment(slot, **kwargs)  # type: ignore[arg-type]


def event_types(uow: FakeUnitOfWork) -> list[str]:
    return [event.type for event in uow.store.events()]


# --- confirm --------------------------------------------------------------------------------------------------------


async def test_a_client_confirms_their_hold_in_one_write_and_its_slot_lock_goes_after() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    hold = held(uow, lock_token="token-1")

    confirmed = await lifecycle.confirm(uow, lock, hold.id, client_of(hold))

    assert confirmed.status == "confirmed"
    assert confirmed.hold_expires_at is None
    assert confirmed.lock_token is None
    slot = uow.store.slots[hold.slot_id]
    assert (slot.held, slot.booked) == (0, 1)
    assert event_types(uow) == [APPOINTMENT_CONFIRMED]
    assert uow.commits == 0, "the one-write path needs no transaction"
    assert lock.released == [(hold.slot_id, "token-1")]


async def test_a_confirmation_whose_answer_is_stored_takes_the_transaction() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    hold = held(uow, lock_token="token-1")
    answers: list[object] = []

    async def store(_: object, result: object) -> None:
        answers.append(result)

    uow.on_answer(store)
    confirmed = await lifecycle.confirm(uow, lock, hold.id, client_of(hold))

    assert answers == [confirmed]
    assert uow.commits == 1
    assert event_types(uow) == [APPOINTMENT_CONFIRMED]
    assert lock.released == [(hold.slot_id, "token-1")]


async def test_a_hold_past_its_deadline_is_expired_for_good_then_refused_with_410() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    hold = held(uow, hold_expires_in=timedelta(seconds=-1), lock_token="token-1")

    with pytest.raises(HoldExpired):
        await lifecycle.confirm(uow, lock, hold.id, client_of(hold))

    assert uow.store.appointments[hold.id].status == "expired"
    assert uow.store.slots[hold.slot_id].held == 0
    assert event_types(uow) == [APPOINTMENT_EXPIRED, SLOT_RELEASED]
    assert lock.released == [(hold.slot_id, "token-1")]
    with pytest.raises(HoldExpired):  # and a second try hears the same
        await lifecycle.confirm(uow, lock, hold.id, client_of(hold))


async def test_only_its_client_may_confirm_and_others_hear_404() -> None:
    uow = FakeUnitOfWork()
    hold = held(uow)
    for stranger in (Caller(uuid.uuid4(), "client"), ADMIN):
        with pytest.raises(NotFound):
            await lifecycle.confirm(uow, None, hold.id, stranger)
    assert uow.store.appointments[hold.id].status == HOLD_STATUS


async def test_a_confirmed_appointment_cannot_be_confirmed_again() -> None:
    uow = FakeUnitOfWork()
    booked = held(uow, status="confirmed")
    with pytest.raises(InvalidTransition):
        await lifecycle.confirm(uow, None, booked.id, client_of(booked))
    assert uow.store.events() == []


# --- cancel ---------------------------------------------------------------------------------------------------------


async def test_a_client_cancelling_late_pays_the_policy_fee_and_the_seat_is_released() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    slot = uow.store.add_slot(starts_in=timedelta(hours=2), price_cents=8000, policy=TIERED)
    booked = uow.store.add_appointment(slot, status="confirmed")

    cancelled = await lifecycle.cancel(uow, lock, lifecycle.Cancel(booked.id, client_of(booked), "sick"))

    assert (cancelled.status, cancelled.fee_cents) == ("cancelled", 4000)
    assert uow.store.slots[slot.id].booked == 0
    assert event_types(uow) == [APPOINTMENT_CANCELLED, SLOT_RELEASED]
    [event] = uow.store.events(APPOINTMENT_CANCELLED)
    payload = event.payload
    assert (payload["fee_cents"], payload["cancelled_by"], payload["reason"]) == (4000, "client", "sick")
    assert event.payload["ics_sequence"] == 1
    assert lock.released == [], "a confirmed seat keeps no slot lock ..."
    assert lock.forgotten == [slot.id], "... only this process's memory of the slot goes"


async def test_a_client_cancelling_a_hold_pays_nothing() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot(starts_in=timedelta(hours=2), policy=TIERED)
    hold = uow.store.add_appointment(slot)
    cancelled = await lifecycle.cancel(uow, None, lifecycle.Cancel(hold.id, client_of(hold)))
    assert cancelled.fee_cents == 0
    assert uow.store.slots[slot.id].held == 0


async def test_a_provider_or_admin_cancellation_waives_the_fee_and_reserves_the_slot_for_the_waitlist() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot(starts_in=timedelta(hours=2), policy=TIERED)
    booked = uow.store.add_appointment(slot, status="confirmed")

    cancelled = await lifecycle.cancel(uow, None, lifecycle.Cancel(booked.id, ADMIN, None, 600))

    assert cancelled.fee_cents == 0
    assert uow.store.reserved_until[slot.id] == uow.store.now + timedelta(seconds=600)
    [released] = uow.store.events(SLOT_RELEASED)
    assert released.payload["released_by"] == "admin"


async def test_a_stranger_cannot_cancel_and_nothing_is_written() -> None:
    uow = FakeUnitOfWork()
    booked = held(uow, status="confirmed")
    with pytest.raises(NotFound):
        await lifecycle.cancel(uow, None, lifecycle.Cancel(booked.id, Caller(uuid.uuid4(), "client")))
    assert uow.store.appointments[booked.id].status == "confirmed"
    assert uow.store.events() == []


async def test_the_quote_says_what_cancelling_now_would_cost() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot(starts_in=timedelta(hours=2), price_cents=8000, policy=TIERED)
    booked = uow.store.add_appointment(slot, status="confirmed")
    quote = await lifecycle.quote(uow, booked.id, client_of(booked))
    assert (quote.fee_cents, quote.policy["kind"], quote.quoted_at) == (4000, "tiered", uow.store.now)


# --- complete and no-show -------------------------------------------------------------------------------------------


async def test_an_admin_completes_a_started_booking_and_the_seat_stays_taken() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot(starts_in=timedelta(minutes=-5))
    booked = uow.store.add_appointment(slot, status="confirmed")

    completed = await lifecycle.complete(uow, booked.id, ADMIN)

    assert completed.status == "completed"
    assert uow.store.slots[slot.id].booked == 1
    assert event_types(uow) == [APPOINTMENT_COMPLETED]
    assert uow.store.transitions[-1].to_status == "completed"


async def test_nothing_is_completed_or_marked_before_it_starts() -> None:
    uow = FakeUnitOfWork()
    booked = held(uow, status="confirmed")
    with pytest.raises(InvalidTransition):
        await lifecycle.complete(uow, booked.id, ADMIN)
    with pytest.raises(InvalidTransition):
        await lifecycle.mark_no_show(uow, booked.id, ADMIN)
    assert uow.store.events() == []


async def test_a_no_show_is_marked_with_its_reason() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot(starts_in=timedelta(minutes=-5))
    booked = uow.store.add_appointment(slot, status="confirmed")

    marked = await lifecycle.mark_no_show(uow, booked.id, ADMIN, "never came")

    assert marked.status == "no_show"
    assert uow.store.transitions[-1].reason == "never came"
    assert event_types(uow) == [APPOINTMENT_NO_SHOW]


async def test_a_client_may_not_complete_their_own_appointment() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot(starts_in=timedelta(minutes=-5))
    booked = uow.store.add_appointment(slot, status="confirmed")
    with pytest.raises(NotFound):
        await lifecycle.complete(uow, booked.id, client_of(booked))
