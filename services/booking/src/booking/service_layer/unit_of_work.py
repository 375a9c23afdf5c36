"""Booking's unit of work: one business transaction, its repositories, its events and its after-commit actions.

One unit of work per request (or per job pass). It owns, for each transaction it runs:

- the pooled connection and the transaction, and the repositories bound to them (`slots`, `appointments`,
  `idempotency`, `catalog`, `schedules`, `assignment`, `views`), which return domain objects;
- the events recorded during the transaction (`record`), written to the outbox just before the commit;
- the after-commit actions (`after_commit`): releasing a slot lock, forgetting a slot found full, waitlist
  follow-ups. They run only after a successful commit, once the connection is back in the pool, and are dropped
  with a rollback;
- the answer hooks (`on_answer` / `answer`): work that must commit *with* the change it reports, such as the
  Idempotency-Key's stored answer, so a committed booking and its stored answer can never disagree (stored after
  the commit, an answer could be lost with the process, and the client's retry with the same key would then meet
  its own booking as a conflict), or the auto-assignment's round-robin cursor.

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

The shape (events, after-commit actions, the retry, `transaction=False`) is the shared
`smartslot_common.uow.BaseUnitOfWork`, and the PostgreSQL transaction its `PooledTransaction`; booking adds its
repositories, the answer hooks, the refusal after commit and the database clock.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Self, TypeVar

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
from smartslot_common.messaging import Event
from smartslot_common.unit_of_work import MAX_ATTEMPTS
from smartslot_common.uow import AfterCommit, BaseUnitOfWork, PooledTransaction

__all__ = ["MAX_ATTEMPTS", "AnswerHook", "PostgresUnitOfWork", "UnitOfWork"]
T = TypeVar("T")
AnswerHook = Callable[["UnitOfWork", Any], Awaitable[None]]


class UnitOfWork(BaseUnitOfWork):
    """The port: repositories, events, after-commit actions and answer hooks around one transaction at a time."""

    slots: SlotRepository
    appointments: AppointmentRepository
    idempotency: IdempotencyRepository
    catalog: CatalogRepository
    schedules: ScheduleRepository
    assignment: AssignmentRepository
    views: AppointmentViews

    def __init__(self, attempts: int = MAX_ATTEMPTS) -> None:
        super().__init__(attempts)
        self._answer_hooks: list[AnswerHook] = []
        self._refusal: BookingError | None = None

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

    @abc.abstractmethod
    async def now(self) -> datetime:
        """The database clock: the one clock every deadline uses."""

    async def run(self, work: Callable[[Self], Awaitable[T]], *, transaction: bool = True) -> T:
        """`work(self)` in a transaction with the bounded retry, then the after-commit actions, then the refusal the
        work asked for, if any (see the module)."""
        result = await super().run(work, transaction=transaction)
        if self._refusal is not None:
            refusal, self._refusal = self._refusal, None
            raise refusal
        return result

    async def __aenter__(self) -> Self:
        self._refusal = None  # each attempt decides afresh
        return await super().__aenter__()


class PostgresUnitOfWork(UnitOfWork):
    """The unit of work on a pooled asyncpg connection."""

    def __init__(self, pool: asyncpg.Pool, attempts: int = MAX_ATTEMPTS) -> None:
        super().__init__(attempts)
        self._scope = PooledTransaction(pool, attempts)
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        """The connection of the transaction in progress (for adapters bound to it)."""
        assert self._connection is not None, "no transaction in progress"
        return self._connection

    async def now(self) -> datetime:
        return await database_now(self.connection)

    async def _begin(self, transaction: bool) -> None:
        connection = self._connection = await self._scope.begin(transaction)
        self.slots = PostgresSlotRepository(connection)
        self.appointments = PostgresAppointmentRepository(connection)
        self.idempotency = PostgresIdempotencyRepository(connection)
        self.catalog = PostgresCatalogRepository(connection)
        self.schedules = PostgresScheduleRepository(connection)
        self.assignment = PostgresAssignmentRepository(connection)
        self.views = PostgresAppointmentViews(connection)

    async def _commit(self, events: Sequence[Event]) -> None:
        self._connection = None
        await self._scope.commit(events)

    async def _rollback(self) -> None:
        self._connection = None
        await self._scope.rollback()

    async def _committed(self, actions: Sequence[AfterCommit]) -> None:
        await self._scope.committed(actions)
