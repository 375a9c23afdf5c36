"""The Idempotency-Key contract on the in-memory unit of work: one request owns a key, the same request later
replays its answer, another body is refused, a retry while it runs is told so; the answer commits with the change it
reports (and rolls back with it), and a fault gives the key back."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from booking.domain.appointment import Appointment
from booking.domain.errors import IdempotencyInFlight, IdempotencyMismatch, NotFound
from booking.service_layer import idempotency, lifecycle
from smartslot_common.http.identity import Caller

from .fakes import FakeUnitOfWork

CALLER = uuid.uuid4()


def render(appointment: Appointment) -> dict[str, Any]:
    return {"id": str(appointment.id), "status": appointment.status}


async def owned(uow: FakeUnitOfWork, key: str = "k-1", fingerprint: str = "f-1") -> idempotency.Claim:
    claim = await idempotency.claim(uow, CALLER, key, fingerprint)
    assert isinstance(claim, idempotency.Claim)
    return claim


async def test_the_first_request_owns_the_key_and_a_retry_while_it_runs_is_told_so() -> None:
    uow = FakeUnitOfWork()
    await owned(uow)
    with pytest.raises(IdempotencyInFlight):
        await idempotency.claim(uow, CALLER, "k-1", "f-1")
    with pytest.raises(IdempotencyMismatch):
        await idempotency.claim(uow, CALLER, "k-1", "another body")
    assert await idempotency.claim(uow, uuid.uuid4(), "k-1", "f-1") is not None, "keys are scoped to the caller"


async def test_the_answer_commits_with_the_change_and_is_replayed() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot()
    booked = uow.store.add_appointment(slot, status="confirmed")
    claim = await owned(uow)

    idempotency.store_answer_with(uow, claim, 200, render)
    cancelled = await lifecycle.cancel(uow, None, lifecycle.Cancel(booked.id, Caller(booked.client_id, "client")))

    replay = await idempotency.claim(FakeUnitOfWork(uow.store), CALLER, "k-1", "f-1")
    assert replay == idempotency.Replay(200, render(cancelled))


async def test_a_refused_change_rolls_its_answer_back_and_the_refusal_is_stored_instead() -> None:
    uow = FakeUnitOfWork()
    claim = await owned(uow)
    idempotency.store_answer_with(uow, claim, 200, render)

    with pytest.raises(NotFound):
        await lifecycle.cancel(uow, None, lifecycle.Cancel(uuid.uuid4(), Caller(CALLER, "client")))
    assert uow.store.keys[(CALLER, "k-1")].state == "in_flight"

    await idempotency.store_answer(uow, claim, 404, {"code": "not_found"})
    replay = await idempotency.claim(uow, CALLER, "k-1", "f-1")
    assert replay == idempotency.Replay(404, {"code": "not_found"})


async def test_a_retried_transaction_stores_the_answer_once() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot()
    booked = uow.store.add_appointment(slot, status="confirmed")
    claim = await owned(uow)
    idempotency.store_answer_with(uow, claim, 200, render)
    uow.fail_next = [asyncpg.SerializationError("could not serialize")]

    await lifecycle.cancel(uow, None, lifecycle.Cancel(booked.id, Caller(booked.client_id, "client")))

    assert uow.store.keys[(CALLER, "k-1")].state == "done"
    assert len(uow.store.transitions) == 1, "the first attempt's writes were rolled back"


async def test_a_fault_gives_the_key_back_so_a_retry_can_run() -> None:
    uow = FakeUnitOfWork()
    claim = await owned(uow)
    await idempotency.release(uow, claim)
    assert isinstance(await idempotency.claim(uow, CALLER, "k-1", "f-1"), idempotency.Claim)


def test_the_fingerprint_tells_requests_apart() -> None:
    first = idempotency.fingerprint("POST", "/v1/holds", b'{"slot_id": "a"}')
    assert first == idempotency.fingerprint("POST", "/v1/holds", b'{"slot_id": "a"}')
    assert first != idempotency.fingerprint("POST", "/v1/holds", b'{"slot_id": "b"}')
    assert first != idempotency.fingerprint("POST", "/v1/appointments", b'{"slot_id": "a"}')
