"""How a consumer applies the events in hand: in one inbox transaction (exactly-once effect), or, for effects that
are the same however often they happen, directly without one.

Both take a whole batch at once (one transaction and one multi-row inbox insert, or one call) and raise if any event
of it failed; the consumer then applies that batch's events one by one, so a failing event is retried or
dead-lettered alone.

Handlers may gather their writes over a batch (`GatheringHandlers`): what they gathered is written after the batch's
last handler, inside its transaction, and forgotten if the batch fails.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage

from smartslot_common.db import Connection
from smartslot_common.messaging.deliveries import consumer_span
from smartslot_common.messaging.envelope import Event
from smartslot_common.messaging.wal import WalPosition, latest

AfterCommit = Callable[[], Awaitable[None]]
Handler = Callable[[Connection, Event], Awaitable[AfterCommit | None]]
Delivery = tuple[AbstractIncomingMessage, Event]

# The database itself is gone (not the handler's fault): the consumer waits for it instead of spending retries.
_DATABASE_GONE = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)
_CLAIM = (
    "INSERT INTO inbox (consumer, event_id, event_type)"
    " SELECT $1, event_id, event_type FROM unnest($2::uuid[], $3::text[]) AS claimed (event_id, event_type)"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


class DatabaseUnavailable(Exception):
    """The database could not be reached; nothing was applied."""


@dataclass(frozen=True)
class Applied:
    """What applying a batch did: the events applied now (the others were applied before), and what to run next."""

    applied: frozenset[uuid.UUID]
    after_commit: tuple[AfterCommit, ...] = ()


@dataclass(frozen=True)
class IdempotentHandler:
    """Applies events whose effect is the same however often it happens (dropping cached pages): no inbox and no
    transaction. `apply` takes every event of `event_types` in hand at once, with the WAL position past all their
    commits when their relay stamped one (see `wal`), and raises if it could not apply them."""

    event_types: frozenset[str]
    apply: Callable[[Sequence[Event], WalPosition | None], Awaitable[None]]


class GatheringHandlers(dict[str, Handler]):
    """Handlers that may leave their writes for the end of the batch: `flush` writes what the batch's handlers
    gathered on `connection` (inside its transaction, after the last handler) and returns the after-commit actions
    those writes call for; `discard` forgets it when the batch failed."""

    def __init__(
        self, handlers: Mapping[str, Handler], flush: Callable[[Connection], Awaitable[Sequence[AfterCommit]]],
        discard: Callable[[Connection], None],
    ) -> None:
        super().__init__(handlers)
        self.flush = flush
        self.discard = discard


class Applier(Protocol):
    """A consumer's way of applying a batch of events."""

    def handles(self, event_type: str) -> bool: ...

    async def apply(self, deliveries: Sequence[Delivery]) -> Applied: ...


class InboxApplier:
    """Applies a batch in one transaction: claims every event in the inbox with one statement, then runs each newly
    claimed event's handler on the same connection."""

    def __init__(self, pool: asyncpg.Pool, consumer: str, queue: str, handlers: Mapping[str, Handler]) -> None:
        self._pool = pool
        self._consumer = consumer
        self._queue = queue
        self._handlers = dict(handlers)
        self._gathering = handlers if isinstance(handlers, GatheringHandlers) else None

    def handles(self, event_type: str) -> bool:
        return event_type in self._handlers

    async def apply(self, deliveries: Sequence[Delivery]) -> Applied:
        try:
            connection = await self._pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise DatabaseUnavailable from error
        try:
            async with connection.transaction():
                return await self._apply_claimed(connection, deliveries)
        except Exception as error:
            cause = lost_connection_error(error)
            if cause is not None:
                raise DatabaseUnavailable from cause
            raise
        finally:
            await self._pool.release(connection)

    async def _apply_claimed(self, connection: Connection, deliveries: Sequence[Delivery]) -> Applied:
        if self._gathering is None:
            return await self._apply_each(connection, deliveries)
        try:
            applied = await self._apply_each(connection, deliveries)
            flushed = await self._gathering.flush(connection)
        except BaseException:
            self._gathering.discard(connection)
            raise
        return Applied(applied.applied, (*applied.after_commit, *flushed))

    async def _apply_each(self, connection: Connection, deliveries: Sequence[Delivery]) -> Applied:
        rows = await connection.fetch(
            _CLAIM, self._consumer, [event.id for _, event in deliveries], [event.type for _, event in deliveries]
        )
        claimed = {row["event_id"] for row in rows}
        applied: set[uuid.UUID] = set()
        after_commit: list[AfterCommit] = []
        for message, event in deliveries:
            if event.id not in claimed or event.id in applied:
                continue  # applied before (a redelivery or a duplicate publication), or earlier in this batch
            applied.add(event.id)
            with handling(message, event, self._consumer, self._queue):
                action = await self._handlers[event.type](connection, event)
            if action is not None:
                after_commit.append(action)
        return Applied(frozenset(applied), tuple(after_commit))


class DirectApplier:
    """Applies a batch with one call of an idempotent handler, each event's span open around it."""

    def __init__(self, consumer: str, queue: str, handler: IdempotentHandler) -> None:
        self._consumer = consumer
        self._queue = queue
        self._handler = handler

    def handles(self, event_type: str) -> bool:
        return event_type in self._handler.event_types

    async def apply(self, deliveries: Sequence[Delivery]) -> Applied:
        with contextlib.ExitStack() as spans:
            for message, event in deliveries:
                spans.enter_context(consumer_span(message, event, self._queue))
            try:
                position = latest(WalPosition.of(message) for message, _ in deliveries)
                await self._handler.apply([event for _, event in deliveries], position)
            except Exception as error:
                cause = lost_connection_error(error)
                if cause is not None:
                    raise DatabaseUnavailable from cause
                raise
        return Applied(frozenset(event.id for _, event in deliveries))


@contextlib.contextmanager
def handling(message: AbstractIncomingMessage, event: Event, consumer: str, queue: str) -> Iterator[None]:
    """The event's log context and CONSUMER span, around its handler."""
    with (
        structlog.contextvars.bound_contextvars(consumer=consumer, event_id=str(event.id), event_type=event.type),
        consumer_span(message, event, queue),
    ):
        yield


def lost_connection_error(error: BaseException | None) -> BaseException | None:
    """The error saying the connection died, if it did: the rollback's InterfaceError hides it in its context."""
    while error is not None:
        if isinstance(error, _DATABASE_GONE):
            return error
        error = error.__cause__ or error.__context__
    return None
