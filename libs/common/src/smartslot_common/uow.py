"""The unit of work's shape, shared by the services that write: one business transaction at a time, the events
recorded during it (written to the outbox just before the commit) and the after-commit actions (run only after a
successful commit, dropped with a rollback).

`async with uow:` is one attempt. PostgreSQL may answer a transaction with a serialization failure (40001) or a
deadlock (40P01), which mean "run me again", and a context manager cannot re-run its body, so `run(work)` is the
bounded retry around it: each attempt starts with no events and no actions, awaits `work(uow)`, and on 40001/40P01
(or `RetryTransaction`) rolls back and awaits `work` again, at most `attempts` times. `work` must be re-runnable:
everything it decides is rebuilt from what it reads. `run(work, transaction=False)` is for a work of one statement
or a plain read, which PostgreSQL runs atomically by itself: no BEGIN/COMMIT round trips and no retry; it may
register after-commit actions but not record events (those need the transaction).

A service's unit of work subclasses `BaseUnitOfWork` with its repositories; its PostgreSQL implementation delegates
the transaction to a `TransactionScope`: `PooledTransaction` owns a pooled connection and its transaction;
`JoinedTransaction` works inside a transaction someone else owns (an event consumer's inbox transaction): it writes
the events to the outbox when the work is done and hands the after-commit actions to the owner
(`after_commit_action`), who runs them after its own commit. A commit that wrote outbox rows (recorded events, or a
statement of the work's own that said so with `wrote_to_outbox`) wakes this process's relay first of all.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging import Event, add_to_outbox, wake_local_relays
from smartslot_common.unit_of_work import MAX_ATTEMPTS, RETRYABLE

T = TypeVar("T")
AfterCommit = Callable[[], Awaitable[object]]
log = get_logger(__name__)
# How long giving a connection back may take. A connection whose query was cancelled (a COMMIT cut short by a
# shutdown) is given back once the server has confirmed the cancellation, and asyncpg's wait for that has no end of its
# own: past this, asyncpg closes the connection instead (and the pool opens another when it needs one).
RELEASE_SECONDS = 10.0


class RetryTransaction(Exception):
    """Raised by a work that lost a race it cannot settle in this transaction: run it again (bounded)."""


_RETRY = (*RETRYABLE, RetryTransaction)


class BaseUnitOfWork(abc.ABC):
    """Events and after-commit actions around one transaction at a time, with the bounded retry."""

    def __init__(self, attempts: int = MAX_ATTEMPTS) -> None:
        self._attempts = attempts
        self._events: list[Event] = []
        self._after_commit: list[AfterCommit] = []
        self._outbox_written = False
        self._in_transaction = True

    def record(self, *events: Event) -> None:
        """Events to write to the outbox with this transaction's commit."""
        self._events.extend(events)

    def wrote_to_outbox(self) -> None:
        """The work wrote an event to the outbox itself (in a statement of its own rather than through `record`):
        this process's relay is woken after the commit all the same."""
        self._outbox_written = True

    def after_commit(self, action: AfterCommit) -> None:
        """An action to run once this transaction has committed (never after a rollback)."""
        self._after_commit.append(action)

    @property
    def events(self) -> Sequence[Event]:
        """The events recorded in the current transaction so far."""
        return tuple(self._events)

    async def run(self, work: Callable[[Self], Awaitable[T]], *, transaction: bool = True) -> T:
        """`work(self)` in a transaction, retried while PostgreSQL asks for it; then the after-commit actions (see
        the module for `transaction=False`)."""
        if not transaction:
            self._in_transaction = False
            try:
                async with self:
                    return await work(self)
            finally:
                self._in_transaction = True
        for attempt in range(1, self._attempts + 1):
            try:
                async with self:
                    return await work(self)
            except _RETRY as error:
                if attempt == self._attempts:
                    raise
                log.info("transaction_retry", attempt=attempt, sqlstate=getattr(error, "sqlstate", None))
        raise AssertionError("unreachable")

    async def __aenter__(self) -> Self:
        self._events, self._after_commit, self._outbox_written = [], [], False
        await self._begin(self._in_transaction)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is not None:
            self._events, self._after_commit = [], []
            await self._rollback()
            return
        events, self._events = self._events, []
        if events and not self._in_transaction:
            await self._rollback()
            raise RuntimeError("events recorded outside a transaction: run the work with transaction=True")
        await self._commit(events)
        actions, self._after_commit = self._after_commit, []
        if events or self._outbox_written:  # first: the relay lingers for more while the other actions run
            actions.insert(0, _wake_relays)
        await self._committed(actions)

    @abc.abstractmethod
    async def _begin(self, transaction: bool) -> None:
        """Take a connection (and open a transaction when asked), bind the repositories."""

    @abc.abstractmethod
    async def _commit(self, events: Sequence[Event]) -> None:
        """Write `events` to the outbox and commit."""

    @abc.abstractmethod
    async def _rollback(self) -> None:
        """Undo this attempt."""

    @abc.abstractmethod
    async def _committed(self, actions: Sequence[AfterCommit]) -> None:
        """The transaction is visible (or will be, when its owner commits): the after-commit actions' turn."""


async def _wake_relays() -> None:
    """After a commit that wrote outbox rows: this process's relay publishes them (see `messaging.outbox`)."""
    wake_local_relays()


async def run_after_commit(action: AfterCommit) -> None:
    """Run one after-commit action; a failure is logged, never raised: the change it follows is committed."""
    try:
        await action()
    except Exception:  # the change it follows is committed: log, never raise
        log.exception("after_commit_failed")


class TransactionScope(Protocol):
    """Where a unit of work's transactions happen: a connection and transaction of its own (`PooledTransaction`) or
    one its caller owns (`JoinedTransaction`)."""

    attempts: int

    async def begin(self, transaction: bool) -> Connection: ...

    async def commit(self, events: Sequence[Event]) -> None: ...

    async def rollback(self) -> None: ...

    async def committed(self, actions: Sequence[AfterCommit]) -> None: ...


class PooledTransaction:
    """A pooled connection and a transaction of the unit of work's own, retried up to `attempts` times."""

    def __init__(self, pool: asyncpg.Pool, attempts: int = MAX_ATTEMPTS) -> None:
        self.attempts = attempts
        self._pool = pool
        self._connection: PoolConnectionProxy | None = None
        self._transaction: Any = None

    async def begin(self, transaction: bool) -> Connection:
        connection: PoolConnectionProxy = await self._pool.acquire()
        try:
            if transaction:
                self._transaction = connection.transaction()
                await self._transaction.start()
        except BaseException:
            await _give_back(self._pool, connection)
            raise
        self._connection = connection
        return connection

    async def commit(self, events: Sequence[Event]) -> None:
        assert self._connection is not None, "no transaction in progress"
        try:
            if self._transaction is not None:
                if events:
                    await add_to_outbox(self._connection, *events)
                await self._transaction.commit()
        except BaseException:
            await self._end(rollback=True)
            raise
        await self._end(rollback=False)

    async def rollback(self) -> None:
        await self._end(rollback=True)

    async def committed(self, actions: Sequence[AfterCommit]) -> None:
        for action in actions:
            await run_after_commit(action)

    async def _end(self, rollback: bool) -> None:
        connection, transaction = self._connection, self._transaction
        self._connection = self._transaction = None
        try:
            # A COMMIT that failed has already ended the transaction on the server.
            if rollback and transaction is not None and connection is not None and connection.is_in_transaction():
                # Rolled back because the work or its COMMIT failed, or was cancelled (a COMMIT cancelled mid-way leaves
                # the transaction in error state, and its rollback refuses): that failure goes on, never this one,
                # which would hide a cancellation from the task being stopped. Releasing the connection resets it,
                # or closes it.
                with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
                    await transaction.rollback()
        finally:
            if connection is not None:
                await _give_back(self._pool, connection)


async def _give_back(pool: asyncpg.Pool, connection: PoolConnectionProxy) -> None:
    """Release the connection within RELEASE_SECONDS; one that cannot be given back in time is closed by asyncpg,
    which is logged and never raised: the transaction has ended either way (committed or rolled back)."""
    try:
        await pool.release(connection, timeout=RELEASE_SECONDS)
    except (TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError, OSError) as error:
        log.warning("connection_closed_instead_of_released", error=str(error) or type(error).__name__)


class JoinedTransaction:
    """A transaction the caller owns and commits (an event consumer's inbox transaction): one attempt (the caller
    retries the whole of it), events written when the work is done, after-commit actions handed to the caller."""

    attempts = 1

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._handed_over: list[AfterCommit] = []

    async def begin(self, transaction: bool) -> Connection:
        return self._connection

    async def commit(self, events: Sequence[Event]) -> None:
        if events:
            await add_to_outbox(self._connection, *events)

    async def rollback(self) -> None:
        """Nothing to undo here: the error propagates and the caller's transaction rolls back."""

    async def committed(self, actions: Sequence[AfterCommit]) -> None:
        self._handed_over.extend(actions)

    def after_commit_action(self) -> AfterCommit | None:
        """What the caller runs after its commit: the unit of work's after-commit actions, in order."""
        actions, self._handed_over = self._handed_over, []
        if not actions:
            return None

        async def run_all() -> None:
            for action in actions:
                await run_after_commit(action)

        return run_all
