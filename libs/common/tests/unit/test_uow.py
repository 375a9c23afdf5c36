"""The unit of work's shape: events written with the commit, after-commit actions only after it, a bounded retry of
the whole work, a joined transaction handing its actions to its owner."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pytest

from smartslot_common.messaging import Event, wake_local_relays, woken_by_local_commits
from smartslot_common.uow import AfterCommit, BaseUnitOfWork, JoinedTransaction, RetryTransaction


class RecordingUnitOfWork(BaseUnitOfWork):
    """A unit of work that writes down what happens to its transactions."""

    def __init__(self, attempts: int = 3) -> None:
        super().__init__(attempts)
        self.log: list[str] = []
        self.outbox: list[str] = []

    async def _begin(self, transaction: bool) -> None:
        self.log.append("begin" if transaction else "begin without transaction")

    async def _commit(self, events: Sequence[Event]) -> None:
        self.outbox.extend(event.type for event in events)
        self.log.append("commit")

    async def _rollback(self) -> None:
        self.log.append("rollback")

    async def _committed(self, actions: Sequence[AfterCommit]) -> None:
        for action in actions:
            await action()


def _event(kind: str) -> Event:
    return Event.create(kind, {}, "test")


async def test_events_go_with_the_commit_and_actions_run_after_it():
    uow = RecordingUnitOfWork()

    async def work(uow: RecordingUnitOfWork) -> str:
        uow.record(_event("thing.done"))

        async def action() -> None:
            uow.log.append("after commit")

        uow.after_commit(action)
        return "answer"

    assert await uow.run(work) == "answer"
    assert uow.log == ["begin", "commit", "after commit"]
    assert uow.outbox == ["thing.done"]


@pytest.mark.parametrize("error", [asyncpg.SerializationError, asyncpg.DeadlockDetectedError, RetryTransaction])
async def test_a_retryable_failure_runs_the_whole_work_again_without_the_failed_attempt_s_events(error: type):
    uow = RecordingUnitOfWork()
    attempts: list[int] = []

    async def work(uow: RecordingUnitOfWork) -> None:
        attempts.append(len(attempts) + 1)
        uow.record(_event(f"attempt.{len(attempts)}"))
        uow.after_commit(lambda: _append(uow.log, f"after attempt {len(attempts)}"))
        if len(attempts) == 1:
            raise error("run me again")

    await uow.run(work)
    assert uow.log == ["begin", "rollback", "begin", "commit", "after attempt 2"]
    assert uow.outbox == ["attempt.2"]


async def test_the_retry_is_bounded():
    uow = RecordingUnitOfWork(attempts=2)

    async def work(uow: RecordingUnitOfWork) -> None:
        raise asyncpg.SerializationError("again")

    with pytest.raises(asyncpg.SerializationError):
        await uow.run(work)
    assert uow.log == ["begin", "rollback", "begin", "rollback"]


async def test_any_other_failure_rolls_back_once_and_runs_nothing_after():
    uow = RecordingUnitOfWork()

    async def work(uow: RecordingUnitOfWork) -> None:
        uow.record(_event("never.written"))
        uow.after_commit(lambda: _append(uow.log, "never run"))
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await uow.run(work)
    assert uow.log == ["begin", "rollback"]
    assert uow.outbox == []


async def test_a_work_without_a_transaction_may_not_record_events():
    uow = RecordingUnitOfWork()

    async def reads(uow: RecordingUnitOfWork) -> int:
        return 7

    async def records(uow: RecordingUnitOfWork) -> None:
        uow.record(_event("lost"))

    assert await uow.run(reads, transaction=False) == 7
    with pytest.raises(RuntimeError, match="outside a transaction"):
        await uow.run(records, transaction=False)
    assert uow.log == ["begin without transaction", "commit", "begin without transaction", "rollback"]
    assert await uow.run(reads) == 7  # the next run has its transaction again
    assert uow.log[-2:] == ["begin", "commit"]


class _Connection:
    """Just what `add_to_outbox` asks of a connection."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []

    def is_in_transaction(self) -> bool:
        return True

    async def executemany(self, query: str, rows: list[tuple[object, ...]]) -> None:
        self.rows.extend(rows)


async def test_a_joined_transaction_writes_events_at_once_and_hands_its_actions_to_its_owner():
    connection = _Connection()
    scope = JoinedTransaction(connection)  # type: ignore[arg-type]  # a stand-in for asyncpg's connection
    ran: list[str] = []

    assert await scope.begin(transaction=True) is connection
    await scope.commit([_event("thing.done")])
    assert [row[1] for row in connection.rows] == ["thing.done"]
    assert scope.attempts == 1

    async def first() -> None:
        ran.append("first")

    async def second() -> None:
        ran.append("second")

    await scope.committed([first, second])
    assert ran == []
    handed = scope.after_commit_action()
    assert handed is not None
    await handed()
    assert ran == ["first", "second"]
    assert scope.after_commit_action() is None  # handed over once


async def test_a_failing_action_is_logged_and_the_next_still_runs():
    uow = RecordingUnitOfWork()

    async def failing() -> None:
        raise ConnectionError("redis gone")

    async def work(uow: RecordingUnitOfWork) -> None:
        scope = JoinedTransaction(_Connection())  # type: ignore[arg-type]
        await scope.committed([failing, lambda: _append(uow.log, "next")])
        handed = scope.after_commit_action()
        assert handed is not None
        uow.after_commit(handed)

    await uow.run(work)
    assert uow.log == ["begin", "commit", "next"]


async def _append(log: list[str], line: str) -> None:
    log.append(line)


# --- waking this process's relay --------------------------------------------------------------------------------


async def test_a_commit_that_wrote_outbox_rows_wakes_the_local_relay_before_the_other_actions():
    uow, order = RecordingUnitOfWork(), []

    async def recorded(uow: RecordingUnitOfWork) -> None:
        uow.record(_event("thing.done"))
        uow.after_commit(lambda: _append(order, "after commit"))

    async def written_by_its_own_statement(uow: RecordingUnitOfWork) -> None:
        uow.wrote_to_outbox()

    with woken_by_local_commits(lambda: order.append("relay woken")):
        await uow.run(recorded)
        await uow.run(written_by_its_own_statement, transaction=False)
    assert order == ["relay woken", "after commit", "relay woken"]


async def test_no_wake_without_outbox_rows_nor_after_a_rollback():
    uow, woken = RecordingUnitOfWork(), []

    async def reads(uow: RecordingUnitOfWork) -> None:
        uow.after_commit(lambda: _append(uow.log, "after commit"))

    async def fails(uow: RecordingUnitOfWork) -> None:
        uow.record(_event("thing.done"))
        uow.wrote_to_outbox()
        raise ValueError("refused")

    with woken_by_local_commits(lambda: woken.append("relay woken")):
        await uow.run(reads)
        with pytest.raises(ValueError, match="refused"):
            await uow.run(fails)
        await uow.run(reads)  # the failed attempt's mark is not carried over
    assert woken == []
    assert uow.log.count("after commit") == 2


async def test_a_relay_that_stopped_is_no_longer_woken():
    woken: list[str] = []
    with woken_by_local_commits(lambda: woken.append("woken")):
        wake_local_relays()
    wake_local_relays()
    assert woken == ["woken"]
