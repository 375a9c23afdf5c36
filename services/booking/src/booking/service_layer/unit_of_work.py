"""Booking's unit of work: one business transaction, its repositories, its events and its after-commit actions.

One unit of work per request (or per job pass). It owns, for each transaction it runs:

- the pooled connection and the transaction, and the repositories bound to them (`slots`, `appointments`,
  `idempotency`), which return domain objects;
- the events recorded during the transaction (`record`), written to the outbox just before the commit;
- the after-commit actions (`after_commit`): releasing a slot lock, forgetting a slot found full, waitlist
  follow-ups. They run only after a successful commit, once the connection is back in the pool, and are dropped
  with a rollback;
- the answer hooks (`on_answer` / `answer`): work that must commit *with* the change it reports, such as the
  Idempotency-Key's stored answer, so a committed booking and its stored answer can never disagree.

The retry shape. PostgreSQL may answer a transaction with a serialization failure (40001) or a deadlock (40P01),
which mean "run me again". A body written inside `async with uow:` cannot be re-run by the context manager, so
`async with uow:` is *one attempt* and `run` is the bounded retry around it::

    async def work(uow: UnitOfWork) -> Appointment:
        appointment = await uow.appointments.lock(appointment_id)
        ...
        uow.record(event)
        uow.after_commit(lambda: release(lock, token))
        return appointment

    appointment = await uow.run(work)

`run(work)` opens a transaction, awaits `work(uow)`, writes the recorded events to the outbox, commits, gives the
connection back and then runs the after-commit actions; on 40001/40P01 it rolls back, forgets that attempt's events
and actions, and awaits `work` again (at most `MAX_ATTEMPTS` times). So `work` must be re-runnable: everything it
decides is rebuilt from what it reads, and anything it registers is registered again on the next attempt. A unit of
work may `run` several transactions one after the other (the idempotency claim, then the booking).

`run(work, transaction=False)` is for a work of one statement, which PostgreSQL runs atomically by itself (the
one-write hold, a single read): no BEGIN/COMMIT round trips, no retry; it may register after-commit actions but not
record events (those need the transaction; the one-write statements write their own outbox row).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import asyncpg

from booking.adapters.appointment_views import AppointmentViews, PostgresAppointmentViews
from booking.adapters.appointments import AppointmentRepository, PostgresAppointmentRepository
from booking.adapters.assignment_repository import AssignmentRepository, PostgresAssignmentRepository
from booking.adapters.catalog_repository import CatalogRepository, PostgresCatalogRepository
from booking.adapters.idempotency import IdempotencyRepository, PostgresIdempotencyRepository
from booking.adapters.repository import database_now
from booking.adapters.schedule_repository import PostgresScheduleRepository, ScheduleRepository
from booking.adapters.slots import PostgresSlotRepository, SlotRepository
from booking.domain.errors import BookingError
from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging import Event, add_to_outbox

T = TypeVar("T")
Work = Callable[["UnitOfWork"], Awaitable[T]]
AfterCommit = Callable[[], Awaitable[object]]
AnswerHook = Callable[["UnitOfWork", Any], Awaitable[None]]
RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
MAX_ATTEMPTS = 4
log = get_logger(__name__)


class UnitOfWork(abc.ABC):
    """The port: repositories, events, after-commit actions and answer hooks around one transaction at a time."""

    slots: SlotRepository
    appointments: AppointmentRepository
    idempotency: IdempotencyRepository
    catalog: CatalogRepository
    schedules: ScheduleRepository
    assignment: AssignmentRepository
    views: AppointmentViews

    def __init__(self, attempts: int = MAX_ATTEMPTS) -> None:
        self._attempts = attempts
        self._events: list[Event] = []
        self._after_commit: list[AfterCommit] = []
        self._answer_hooks: list[AnswerHook] = []
        self._refusal: BookingError | None = None
        self._in_transaction = True

    # --- what the work does on the unit of work ---------------------------------------------------------------------

    def record(self, *events: Event) -> None:
        """Events to write to the outbox with this transaction's commit."""
        self._events.extend(events)

    def after_commit(self, action: AfterCommit) -> None:
        """An action to run once this transaction has committed (never after a rollback)."""
        self._after_commit.append(action)

    def refuse_after_commit(self, refusal: BookingError) -> None:
        """Answer `refusal` once the commit is done: a refusal that must not roll back what was written (an expired
        hold is expired for good, then `410`)."""
        self._refusal = refusal

    def on_answer(self, hook: AnswerHook) -> None:
        """Work to do in the same transaction as the change the request's answer reports (`answer` runs it)."""
        self._answer_hooks.append(hook)

    @property
    def stores_answer(self) -> bool:
        """Whether the answer is written with the change, so the work needs a transaction even for one statement."""
        return bool(self._answer_hooks)

    async def answer(self, result: Any) -> None:
        """The request's answer is `result`: run the answer hooks inside the current transaction."""
        for hook in self._answer_hooks:
            await hook(self, result)

    @property
    def events(self) -> list[Event]:
        """The events recorded in the current transaction so far."""
        return self._events

    @abc.abstractmethod
    async def now(self) -> datetime:
        """The database clock: the one clock every deadline uses."""

    # --- running -----------------------------------------------------------------------------------------------------

    async def run(self, work: Work[T], *, transaction: bool = True) -> T:
        """Run `work(self)` in a transaction with the bounded retry, then the after-commit actions (see the module)."""
        if not transaction:
            return await self._run_once(work, transaction=False)
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._run_once(work, transaction=True)
            except RETRYABLE as error:
                if attempt == self._attempts:
                    raise
                log.info("transaction_retry", attempt=attempt, sqlstate=error.sqlstate)
        raise AssertionError("unreachable")

    async def _run_once(self, work: Work[T], transaction: bool) -> T:
        self._in_transaction = transaction
        async with self:
            result = await work(self)
        if self._refusal is not None:
            refusal, self._refusal = self._refusal, None
            raise refusal
        return result

    async def __aenter__(self) -> UnitOfWork:
        self._events = []
        self._after_commit = []
        self._refusal = None
        await self._begin(self._in_transaction)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is not None:
            self._events, self._after_commit, self._refusal = [], [], None
            await self._rollback()
            return
        if self._events and not self._in_transaction:
            await self._rollback()
            raise RuntimeError("events recorded outside a transaction: run the work with transaction=True")
        await self._commit(self._events)
        actions, self._after_commit, self._events = self._after_commit, [], []
        for action in actions:
            await _run_after_commit(action)

    @abc.abstractmethod
    async def _begin(self, transaction: bool) -> None:
        """Take a connection (and open a transaction when asked) and bind the repositories to it."""

    @abc.abstractmethod
    async def _commit(self, events: list[Event]) -> None:
        """Write `events` to the outbox, commit, and give the connection back."""

    @abc.abstractmethod
    async def _rollback(self) -> None:
        """Roll back and give the connection back."""


async def _run_after_commit(action: AfterCommit) -> None:
    # The change is committed and the answer is owed: a failed follow-up (Redis gone while releasing a lock, whose
    # TTL frees it anyway) is logged, never turned into an error for a request that succeeded.
    try:
        await action()
    except Exception:
        log.exception("after_commit_failed")


class PostgresUnitOfWork(UnitOfWork):
    """The unit of work on a pooled asyncpg connection."""

    def __init__(self, pool: asyncpg.Pool, attempts: int = MAX_ATTEMPTS) -> None:
        super().__init__(attempts)
        self._pool = pool
        self._connection: Connection | None = None
        self._transaction: Any = None

    @property
    def connection(self) -> Connection:
        """The connection of the transaction in progress (for adapters bound to it)."""
        assert self._connection is not None, "no transaction in progress"
        return self._connection

    async def now(self) -> datetime:
        return await database_now(self.connection)

    async def _begin(self, transaction: bool) -> None:
        connection: Connection = await self._pool.acquire()
        try:
            if transaction:
                self._transaction = connection.transaction()
                await self._transaction.start()
        except BaseException:
            await self._pool.release(connection)
            raise
        self._connection = connection
        self.slots = PostgresSlotRepository(connection)
        self.appointments = PostgresAppointmentRepository(connection)
        self.idempotency = PostgresIdempotencyRepository(connection)
        self.catalog = PostgresCatalogRepository(connection)
        self.schedules = PostgresScheduleRepository(connection)
        self.assignment = PostgresAssignmentRepository(connection)
        self.views = PostgresAppointmentViews(connection)

    async def _commit(self, events: list[Event]) -> None:
        try:
            if self._transaction is not None:
                if events:
                    await add_to_outbox(self.connection, *events)
                await self._transaction.commit()
        except BaseException:
            await self._end(rollback=True)
            raise
        await self._end(rollback=False)

    async def _rollback(self) -> None:
        await self._end(rollback=True)

    async def _end(self, rollback: bool) -> None:
        connection, transaction = self._connection, self._transaction
        self._connection = self._transaction = None
        try:
            # A COMMIT that failed has already ended the transaction on the server (asyncpg marks it failed).
            if rollback and transaction is not None and connection is not None and connection.is_in_transaction():
                await transaction.rollback()
        finally:
            if connection is not None:
                await self._pool.release(connection)
