"""A unit of work's own transaction ends by giving its connection back whatever happened, within a bound (a
connection whose COMMIT was cancelled is given back only once the server confirmed the cancellation, a wait asyncpg
does not end by itself), and a rollback that fails never hides the failure it was rolling back for: above all a
cancellation, which the task being stopped must see. Seen in CI: a waitlist test's shutdown waited for ever right
after the sweeper, cancelled during its COMMIT, logged the rollback's "transaction is in error state"."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from smartslot_common.uow import RELEASE_SECONDS, PooledTransaction


class Transaction:
    def __init__(self, commit_fails_with: BaseException | None) -> None:
        self.commit_fails_with = commit_fails_with

    async def start(self) -> None: ...

    async def commit(self) -> None:
        if self.commit_fails_with is not None:
            raise self.commit_fails_with

    async def rollback(self) -> None:
        raise asyncpg.InterfaceError("cannot rollback; the transaction is in error state")


class Connection:
    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction

    def transaction(self) -> Transaction:
        return self._transaction

    def is_in_transaction(self) -> bool:
        return True


class Pool:
    def __init__(self, connection: Connection, release_fails: bool = False) -> None:
        self.connection = connection
        self.released: list[tuple[Connection, float | None]] = []
        self.release_fails = release_fails

    async def acquire(self) -> Connection:
        return self.connection

    async def release(self, connection: Connection, *, timeout: float | None = None) -> None:
        self.released.append((connection, timeout))
        if self.release_fails:  # asyncpg's own answer when the cancellation it waits for takes longer than `timeout`
            raise TimeoutError


@pytest.mark.parametrize("failure", [asyncio.CancelledError(), ConnectionResetError("reset")])
async def test_a_commit_that_fails_raises_its_own_error_not_the_rollback_s_and_releases_the_connection(
    failure: BaseException,
) -> None:
    connection = Connection(Transaction(commit_fails_with=failure))
    pool = Pool(connection)
    transaction = PooledTransaction(pool)  # type: ignore[arg-type]  # a stand-in pool
    await transaction.begin(transaction=True)

    with pytest.raises(type(failure)):
        await transaction.commit([])

    assert pool.released == [(connection, RELEASE_SECONDS)]  # bounded: a cancelled COMMIT's wait has no end


async def test_a_rollback_after_the_work_failed_releases_the_connection_and_raises_nothing_of_its_own() -> None:
    connection = Connection(Transaction(commit_fails_with=None))
    pool = Pool(connection)
    transaction = PooledTransaction(pool)  # type: ignore[arg-type]
    await transaction.begin(transaction=True)

    await transaction.rollback()

    assert pool.released == [(connection, RELEASE_SECONDS)]


async def test_a_connection_that_cannot_be_given_back_in_time_does_not_fail_a_committed_transaction() -> None:
    connection = Connection(Transaction(commit_fails_with=None))
    pool = Pool(connection, release_fails=True)  # asyncpg closes such a connection itself
    transaction = PooledTransaction(pool)  # type: ignore[arg-type]
    await transaction.begin(transaction=True)

    await transaction.commit([])  # committed: nothing to raise

    assert pool.released == [(connection, RELEASE_SECONDS)]
