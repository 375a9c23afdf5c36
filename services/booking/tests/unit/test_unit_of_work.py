"""The unit of work's contract, on the in-memory one: the bounded retry re-runs the work from scratch, events reach the
outbox only with a commit, after-commit actions run only after one, and a refusal can follow a commit."""

from __future__ import annotations

import asyncpg
import pytest

from booking.domain.errors import HoldExpired
from booking.service_layer.unit_of_work import MAX_ATTEMPTS, UnitOfWork
from smartslot_common.messaging import Event

from .fakes import FakeUnitOfWork


def _event(kind: str = "test.happened") -> Event:
    return Event.create(kind, {"n": 1}, "booking")


async def test_a_commit_writes_the_recorded_events_then_runs_the_after_commit_actions() -> None:
    uow = FakeUnitOfWork()
    seen: list[str] = []

    async def after() -> None:
        seen.append(f"after commit {uow.commits}")

    async def work(uow: UnitOfWork) -> str:
        uow.record(_event())
        uow.after_commit(after)
        return "done"

    assert await uow.run(work) == "done"
    assert [event.type for event in uow.store.events()] == ["test.happened"]
    assert seen == ["after commit 1"]


async def test_a_failed_work_rolls_back_and_drops_its_events_and_actions() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot()
    seen: list[str] = []

    async def work(uow: UnitOfWork) -> None:
        await uow.slots.take_seat(slot, "held")
        uow.record(_event())
        uow.after_commit(lambda: _append(seen, "ran"))
        raise HoldExpired("no")

    with pytest.raises(HoldExpired):
        await uow.run(work)
    assert uow.store.slots[slot.id].held == 0
    assert uow.store.events() == []
    assert seen == []


async def test_a_serialization_failure_runs_the_work_again_with_a_fresh_start() -> None:
    uow = FakeUnitOfWork()
    uow.fail_next = [asyncpg.SerializationError("could not serialize")]
    attempts: list[int] = []

    async def work(uow: UnitOfWork) -> int:
        attempts.append(len(uow.events))
        uow.record(_event())
        return len(attempts)

    assert await uow.run(work) == 2
    assert attempts == [0, 0]  # the second attempt starts without the first one's events
    assert len(uow.store.events()) == 1


async def test_the_retry_is_bounded() -> None:
    uow = FakeUnitOfWork()
    uow.fail_next = [asyncpg.DeadlockDetectedError("deadlock")] * MAX_ATTEMPTS

    async def work(uow: UnitOfWork) -> None:
        return None

    with pytest.raises(asyncpg.DeadlockDetectedError):
        await uow.run(work)
    assert uow.commits == 0


async def test_a_refusal_after_commit_keeps_what_was_written() -> None:
    uow = FakeUnitOfWork()

    async def work(uow: UnitOfWork) -> None:
        uow.record(_event("appointment.expired"))
        uow.refuse_after_commit(HoldExpired("expired"))

    with pytest.raises(HoldExpired):
        await uow.run(work)
    assert [event.type for event in uow.store.events()] == ["appointment.expired"]


async def test_a_work_without_a_transaction_may_not_record_events() -> None:
    uow = FakeUnitOfWork()

    async def work(uow: UnitOfWork) -> None:
        uow.record(_event())

    with pytest.raises(RuntimeError):
        await uow.run(work, transaction=False)
    assert uow.store.events() == []


async def test_the_answer_hooks_run_inside_the_transaction_when_the_work_answers() -> None:
    uow = FakeUnitOfWork()
    answers: list[tuple[int, object]] = []

    async def store(uow: UnitOfWork, result: object) -> None:
        answers.append((uow.commits, result))

    uow.on_answer(store)

    async def work(uow: UnitOfWork) -> str:
        await uow.answer("the answer")
        return "the answer"

    assert uow.stores_answer
    await uow.run(work)
    assert answers == [(0, "the answer")]  # before the commit


async def test_a_failing_after_commit_action_does_not_fail_the_committed_work() -> None:
    uow = FakeUnitOfWork()
    seen: list[str] = []

    async def broken() -> None:
        raise ConnectionError("redis went away")

    async def work(uow: UnitOfWork) -> str:
        uow.after_commit(broken)
        uow.after_commit(lambda: _append(seen, "still ran"))
        return "ok"

    assert await uow.run(work) == "ok"
    assert seen == ["still ran"]


async def _append(seen: list[str], what: str) -> None:
    seen.append(what)
