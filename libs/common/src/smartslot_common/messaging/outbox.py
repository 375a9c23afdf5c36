"""The transactional outbox: events are written with the business change and published by a relay (I3).

A service runs its outbox's relay in its own process. Its units of work wake that relay themselves after a commit
that wrote outbox rows (`wake_local_relays`), and its pool's connections say so to the database
(`RELAY_IN_PROCESS_SETTING`), so that the outbox trigger sends no notification for their writes: a notification per
commit cost the writer, the listening backend and the relay's connection about 0.1 ms of CPU per event here. Rows
written by anything else (a script, another program) are still announced by the trigger to every relay listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from smartslot_common.contracts.events import SUBSCRIPTIONS, routing_key, topic_matches
from smartslot_common.db import Connection
from smartslot_common.jobs import Backoff, Job
from smartslot_common.logging import get_logger
from smartslot_common.messaging.envelope import Event, InvalidEnvelope
from smartslot_common.messaging.errors import PublishFailed, Unroutable
from smartslot_common.messaging.wal import WalPosition
from smartslot_common.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED

log = get_logger(__name__)

UNROUTABLE = "unroutable"
JOB_NAME = "outbox-relay"  # its `background_job` label on smartslot_job_last_success_timestamp_seconds
# After a commit wakes the relay, it waits this long for the commits right behind it, which then travel together:
# one drain (a transaction, a round of confirms) and, since a run of one routing key is one message, one message
# for the broker and every consumer. At 200 bookings/s 100 ms (20 rows a drain) cost 9.7 % less CPU per booking over
# the stack than 50 ms (RabbitMQ -36 %, availability -29 %, notifier -14 %, PostgreSQL -8 %), for 50 ms more before
# an email leaves or a page is dropped; at 100 rows/s 50 ms had cut the relay's own CPU per row from 1.13 ms
# (no wait) to 0.42.
RELAY_LINGER_SECONDS = 0.1
# The most events one message carries: a consumer applies a delivery's events in one batch (with the other
# deliveries in hand), so this bounds a batch's transaction at its share of the prefetch times this.
MAX_EVENTS_PER_MESSAGE = 32
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]*")
_OUTAGES = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)
# The exponent is capped so that power() cannot overflow after very many attempts.
_BACKOFF_SQL = "least($3::float8, $4::float8 * power(2, least(attempts, 30))) * interval '1 second'"


# A connection with this setting "on" writes outbox rows for a relay in its own process, which it wakes itself: the
# outbox trigger sends no notification for it (migration component outbox 0003).
RELAY_IN_PROCESS_SETTING = "smartslot.relay_in_process"
RELAY_IN_PROCESS: Mapping[str, str] = {RELAY_IN_PROCESS_SETTING: "on"}  # for the pool of a service that runs its relay
_LOCAL_WAKES: set[Callable[[], None]] = set()  # how to wake each relay running in this process


def wake_local_relays() -> None:
    """Outbox rows were just committed by this process: its relays drain now (no-op when none runs here)."""
    for wake in _LOCAL_WAKES:
        wake()


@contextlib.contextmanager
def woken_by_local_commits(wake: Callable[[], None]) -> Iterator[None]:
    """While inside, `wake` is called after every commit of this process that wrote outbox rows."""
    _LOCAL_WAKES.add(wake)
    try:
        yield
    finally:
        _LOCAL_WAKES.discard(wake)


class Publisher(Protocol):
    """What the relay needs of a publisher (`EventPublisher` is one): events of one routing key published in one
    message, raising `Unroutable` or `PublishFailed` for all of them."""

    async def publish_together(self, events: Sequence[Event], position: WalPosition | None = None) -> None: ...


async def add_to_outbox(connection: Connection, *events: Event) -> None:
    """Write `events` to the outbox inside the caller's open business transaction."""
    if not connection.is_in_transaction():
        # Outside a transaction the event could be written while the change it reports is lost (or vice versa).
        raise RuntimeError("add_to_outbox must run inside the business transaction")
    await connection.executemany(
        # ::text then ::jsonb keeps the insert independent of any jsonb codec set on the connection.
        "INSERT INTO outbox (id, event_type, envelope) VALUES ($1, $2, $3::text::jsonb)",
        [outbox_row(event) for event in events],
    )


def outbox_row(event: Event) -> tuple[uuid.UUID, str, str]:
    """The outbox columns `(id, event_type, envelope)` of `event`, the envelope as JSON text (cast to jsonb in SQL),
    for a statement that writes its outbox row together with the business change."""
    return event.id, event.type, event.to_json().decode()


def notify_channel(schema: str) -> str:
    """The LISTEN channel the outbox trigger of `schema` notifies on commit."""
    return f"outbox_{schema}"


class OutboxRelay:
    """Publishes a schema's outbox rows in created order, marking each only after the broker's confirm."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: Publisher,
        schema: str,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        retry_base: float = 1.0,
        retry_cap: float = 60.0,
        linger: float = RELAY_LINGER_SECONDS,
        backlog_interval: float = 1.0,
        subscriptions: Mapping[str, Sequence[str]] = SUBSCRIPTIONS,
    ) -> None:
        if not _SCHEMA.fullmatch(schema):
            raise ValueError(f"not a plain schema name: {schema!r}")
        self._pool = pool
        self._publisher = publisher
        self._schema = schema
        self._table = f'"{schema}".outbox'
        self._batch_size = batch_size
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._backlog_interval = backlog_interval
        self._backlog_measured: float | None = None  # loop time of the last count, None before the first
        self._system: int | None = None
        self._patterns = tuple(pattern for patterns in subscriptions.values() for pattern in patterns)
        self._listener: _Listener | None = None
        # Woken by the outbox trigger's notification; after a wake-up it lingers for the commits right behind it
        # (one transaction and one round of confirms for several rows rather than one each).
        self._job = Job(JOB_NAME, poll_interval, self._relay_once, linger=linger,
                        backoff=Backoff(retry_base, retry_cap))

    async def drain_once(self) -> int:
        """Publish one batch of due rows and measure the backlog; how many were settled (published or
        unroutable)."""
        settled = await self._drain()
        await self._update_backlog()
        return settled

    async def _drain(self) -> int:
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                # The WAL position read here is past every row's commit (they are committed, so visible to it).
                f"SELECT id, envelope::text AS envelope, pg_current_wal_insert_lsn() - '0/0'::pg_lsn AS lsn"
                f" FROM {self._table} WHERE published_at IS NULL AND next_attempt_at <= now()"
                " ORDER BY created_at, seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            position = await self._position(connection, rows)
            return await self._publish_rows(connection, rows, position)

    async def run(self) -> None:
        """Drain until stopped, woken by this process's commits (`wake_local_relays`), by the outbox trigger for
        other writers, or every `poll_interval`; outages are logged and outlived (retried with a back-off; the rows
        wait in the table)."""
        try:
            with woken_by_local_commits(self.wake):
                await self._job.run()
        finally:
            await self._stop_listening()

    def wake(self) -> None:
        """Drain soon (after the linger): rows were committed."""
        self._job.wake()

    def stop(self) -> None:
        """Start no more drains: `run` returns once the one in progress is done."""
        self._job.stop()

    async def _relay_once(self) -> bool:
        """Listen (again, after a lost connection), publish one batch, count the backlog now and then; whether the
        batch was full (probably more waiting)."""
        await self._listen()
        settled = await self._drain()
        now = asyncio.get_running_loop().time()
        if self._backlog_measured is None or now - self._backlog_measured >= self._backlog_interval:
            await self._update_backlog()  # a count per drain would double the statements
            self._backlog_measured = now
        return settled == self._batch_size

    async def _position(self, connection: Connection, rows: Sequence[asyncpg.Record]) -> WalPosition | None:
        """The WAL position the batch's messages carry (see `wal`): past the commit of every row of it."""
        if not rows:
            return None
        if self._system is None:  # fixed for the cluster's life: read once
            self._system = int(await connection.fetchval("SELECT system_identifier FROM pg_control_system()"))
        return WalPosition(self._system, int(max(row["lsn"] for row in rows)))

    async def _publish_rows(
        self, connection: Connection, rows: Sequence[asyncpg.Record], position: WalPosition | None = None
    ) -> int:
        """Publish the batch at once (one channel, so in created order) and settle each row by its message's confirm.

        The consecutive rows of one routing key travel in one message (up to `MAX_EVENTS_PER_MESSAGE`): the broker
        stores, routes and delivers it once for all of them, and each consumer takes it in one delivery. Confirms
        are awaited together rather than one by one: the broker's round trip is paid once per batch. Rows the
        broker confirmed, or returned as unroutable when no consumer subscribes to them, are marked in one
        statement each; the others (a subscribed row returned for want of its binding among them) wait with a
        back-off. Should some fail, the ones after them may already be out: consumers are idempotent, and
        nothing here promises order across a failure.
        """
        messages = _together(rows)
        outcomes = await asyncio.gather(*(self._publish_message(message, position) for message in messages))
        settled = [(row, outcome) for message, outcome in zip(messages, outcomes, strict=True)
                   for row in message.rows]
        published = [row["id"] for row, outcome in settled if outcome is None]
        unroutable = [row["id"] for row, outcome in settled if outcome == UNROUTABLE]
        await self._mark_published(connection, published, None)
        await self._mark_published(connection, unroutable, UNROUTABLE)
        for row, outcome in settled:
            if isinstance(outcome, _Failure):
                await self._mark_failed(connection, row["id"], outcome)
        return len(published) + len(unroutable)

    async def _publish_message(self, message: _Message, position: WalPosition | None) -> str | _Failure | None:
        """None once confirmed, `UNROUTABLE` if nobody subscribes (by `subscriptions`), else why it was not
        published (a row that cannot be read; a subscribed event the broker returned among them: its binding is
        missing)."""
        if isinstance(message.events, _Failure):
            return message.events
        first = message.events[0]
        try:
            await self._publisher.publish_together(message.events, position)
        except Unroutable:
            if any(topic_matches(pattern, message.key) for pattern in self._patterns):
                # A queue should have it (SUBSCRIPTIONS) but none is bound: a binding was removed. Marking the rows
                # would lose the events for good; they wait instead, the backlog ages and the stuck-outbox alert
                # fires, and they go out once the binding is back.
                log.error("outbox event returned unroutable though a queue subscribes to it; a binding is missing",
                          event_id=str(first.id), events=len(message.events), event_type=first.type,
                          routing_key=message.key, schema=self._schema)
                return _Failure(f"{UNROUTABLE}: no queue is bound for {message.key}", broker=False)
            # Every service declares the whole topology at start, so nobody subscribes to this type.
            log.warning("outbox event is unroutable; nobody subscribes to it", event_id=str(first.id),
                        events=len(message.events), schema=self._schema)
            return UNROUTABLE
        except PublishFailed as error:
            return _Failure(str(error), broker=True)
        OUTBOX_PUBLISHED.labels(first.type).inc(len(message.events))
        return None

    async def _mark_published(self, connection: Connection, event_ids: Sequence[uuid.UUID], error: str | None) -> None:
        if event_ids:
            await connection.execute(
                f"UPDATE {self._table} SET published_at = now(), attempts = attempts + 1, last_error = $2"
                " WHERE id = ANY($1::uuid[])",
                event_ids,
                error,
            )

    async def _mark_failed(self, connection: Connection, event_id: object, failure: _Failure) -> None:
        """Count the attempt. A row at fault waits with an exponential back-off; a row the broker did not take (it
        is down, or the channel is gone) is due again after `retry_base`, so it leaves soon after the broker is back
        rather than a whole back-off later."""
        log.warning("outbox event not published; will retry", event_id=str(event_id), schema=self._schema,
                    error=failure.error)
        delay = "least($3::float8, $4::float8) * interval '1 second'" if failure.broker else _BACKOFF_SQL
        await connection.execute(
            f"UPDATE {self._table} SET attempts = attempts + 1, last_error = $2,"
            f" next_attempt_at = now() + {delay} WHERE id = $1",
            event_id,
            failure.error,
            self._retry_cap,
            self._retry_base,
        )

    async def _update_backlog(self) -> None:
        row = await self._pool.fetchrow(
            "SELECT count(*) AS backlog,"
            " coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age"
            f" FROM {self._table} WHERE published_at IS NULL"
        )
        assert row is not None  # an aggregate without GROUP BY always returns one row
        OUTBOX_BACKLOG.set(row["backlog"])
        OUTBOX_OLDEST_AGE.set(max(0.0, row["oldest_age"]))

    async def _listen(self) -> None:
        """LISTEN on the trigger's channel before draining (a commit from then on wakes the job, so none is missed
        between a drain and the wait after it); a lost LISTEN connection is replaced."""
        if self._listener is not None and self._listener.lost:
            log.info("outbox LISTEN connection lost; listening again", schema=self._schema)
            await self._stop_listening()
        if self._listener is None:
            self._listener = await _Listener.start(self._pool, notify_channel(self._schema), self._job.wake)

    async def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()


@dataclass(frozen=True)
class _Failure:
    """Why a row was not published, and whether the broker (rather than the row) was at fault."""

    error: str
    broker: bool


@dataclass
class _Message:
    """The rows that go out in one message, their events (or why a row cannot be read) and routing key."""

    rows: list[asyncpg.Record]
    events: list[Event] | _Failure
    key: str = ""


def _together(rows: Sequence[asyncpg.Record]) -> list[_Message]:
    """The batch's rows as messages, in created order: each run of consecutive rows of one routing key in one (up
    to `MAX_EVENTS_PER_MESSAGE`), so that every queue still receives the events in created order; a row that
    cannot be read alone."""
    messages: list[_Message] = []
    for row in rows:
        try:
            event = Event.from_json(row["envelope"])
        except InvalidEnvelope as error:
            messages.append(_Message([row], _Failure(str(error), broker=False)))
            continue
        key = routing_key(event.type, event.payload)
        last = messages[-1] if messages else None
        if (last is not None and last.key == key and isinstance(last.events, list)
                and len(last.events) < MAX_EVENTS_PER_MESSAGE):
            last.rows.append(row)
            last.events.append(event)
        else:
            messages.append(_Message([row], [event], key))
    return messages


class _Listener:
    """A pooled connection LISTENing on the outbox channel: a notification calls `wake`; so does the connection's
    loss, which `lost` then reports."""

    def __init__(self, pool: asyncpg.Pool, connection: PoolConnectionProxy, channel: str,
                 wake: Callable[[], None]) -> None:
        self._pool = pool
        self._connection = connection
        self._channel = channel
        self._wake = wake
        self.lost = False

    @classmethod
    async def start(cls, pool: asyncpg.Pool, channel: str, wake: Callable[[], None]) -> _Listener:
        connection = await pool.acquire()
        listener = cls(pool, connection, channel, wake)
        try:
            connection.add_termination_listener(listener._on_lost)
            await connection.add_listener(channel, listener._on_notify)
        except BaseException:
            await pool.release(connection)
            raise
        return listener

    def _on_notify(self, *_: object) -> None:
        self._wake()

    def _on_lost(self, *_: object) -> None:
        self.lost = True
        self._wake()

    async def close(self) -> None:
        """Stop listening and give the connection back (the pool discards a dead one)."""
        # On a dead connection these fail; the pool discards it anyway.
        with contextlib.suppress(*_OUTAGES):
            self._connection.remove_termination_listener(self._on_lost)
            await self._connection.remove_listener(self._channel, self._on_notify)
        with contextlib.suppress(*_OUTAGES):
            await self._pool.release(self._connection)
