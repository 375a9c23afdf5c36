"""The waitlist's unit of work: one business transaction, its repositories, its events and its follow-ups.

The shape is `smartslot_common.uow`'s (booking's is the same): `async with uow:` is one attempt, `uow.run(work)` the
bounded retry around it; `uow.record(event)` writes an event to the outbox with the commit; `uow.after_commit(action)`
runs an action only once the commit succeeded. On top of that, the waitlist's decisions ask for calls to booking
(`uow.follow_up(SendHold(...))`): they are collected during the transaction and handed, all at once, to the
dispatcher (the `Offerer`) after the commit, which runs them concurrently.

`PostgresUnitOfWork.pooled(pool, dispatch)` owns a connection and its transaction (HTTP requests, the sweeper, the
offerer's decisions on booking's answers); `PostgresUnitOfWork.joined(connection, dispatch)` decides inside an event
consumer's inbox transaction and hands its follow-ups to the consumer, which runs them after its commit.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Self, TypeAlias

import asyncpg

from smartslot_common.db import Connection, fetch_value
from smartslot_common.messaging import AfterCommit as ConsumerAfterCommit
from smartslot_common.messaging import Event
from smartslot_common.uow import AfterCommit, BaseUnitOfWork, JoinedTransaction, PooledTransaction, TransactionScope
from waitlist.adapters.entries import EntryRepository, PostgresEntryRepository
from waitlist.adapters.offers import OfferRepository, PostgresOfferRepository
from waitlist.adapters.seats import PostgresSeatRepository, SeatRepository
from waitlist.domain.commands import Followup

Dispatch: TypeAlias = Callable[[Sequence[Followup]], Awaitable[None]]


class UnitOfWork(BaseUnitOfWork):
    """The port: offers, seats and entries around one transaction at a time, with events and follow-ups."""

    offers: OfferRepository
    seats: SeatRepository
    entries: EntryRepository

    def __init__(self, dispatch: Dispatch | None, attempts: int) -> None:
        super().__init__(attempts)
        self._dispatch = dispatch
        self._followups: list[Followup] = []

    def follow_up(self, *followups: Followup) -> None:
        """Calls to booking this decision asks for, run once it has committed."""
        if self._dispatch is None:
            raise RuntimeError("this unit of work was made without a dispatcher for follow-ups")
        if followups and not self._followups:
            dispatch, batch = self._dispatch, self._followups
            self.after_commit(lambda: dispatch(batch))
        self._followups.extend(followups)

    @property
    def followups(self) -> Sequence[Followup]:
        """The follow-ups asked for in the current transaction so far."""
        return tuple(self._followups)

    async def __aenter__(self) -> Self:
        self._followups = []
        await super().__aenter__()
        return self

    @abc.abstractmethod
    async def now(self) -> datetime:
        """The database clock: the one clock every deadline and window uses."""


class PostgresUnitOfWork(UnitOfWork):
    """The unit of work on PostgreSQL, in a transaction of its own or in its caller's."""

    def __init__(self, scope: TransactionScope, dispatch: Dispatch | None = None) -> None:
        super().__init__(dispatch, scope.attempts)
        self._scope = scope
        self._connection: Connection | None = None

    @classmethod
    def pooled(cls, pool: asyncpg.Pool, dispatch: Dispatch | None = None) -> PostgresUnitOfWork:
        """A unit of work with a pooled connection and a transaction of its own (follow-ups go to `dispatch`)."""
        return cls(PooledTransaction(pool), dispatch)

    @classmethod
    def joined(cls, connection: Connection, dispatch: Dispatch) -> PostgresUnitOfWork:
        """A unit of work inside the caller's open transaction (see `handed_over`)."""
        return cls(JoinedTransaction(connection), dispatch)

    def handed_over(self) -> ConsumerAfterCommit | None:
        """For a joined unit of work: what its caller runs after committing (None when nothing is to be done)."""
        assert isinstance(self._scope, JoinedTransaction), "only a joined unit of work hands its actions over"
        action = self._scope.after_commit_action()
        if action is None:
            return None

        async def run() -> None:
            await action()

        return run

    async def now(self) -> datetime:
        assert self._connection is not None, "no transaction in progress"
        return await fetch_value(self._connection, datetime, "SELECT clock_timestamp()")

    async def _begin(self, transaction: bool) -> None:
        connection = self._connection = await self._scope.begin(transaction)
        self.offers = PostgresOfferRepository(connection)
        self.seats = PostgresSeatRepository(connection)
        self.entries = PostgresEntryRepository(connection)

    async def _commit(self, events: Sequence[Event]) -> None:
        await self._scope.commit(events)

    async def _rollback(self) -> None:
        await self._scope.rollback()

    async def _committed(self, actions: Sequence[AfterCommit]) -> None:
        await self._scope.committed(actions)
