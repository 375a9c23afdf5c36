"""Events end to end on the real PostgreSQL and RabbitMQ: outbox, relay, publisher, consumer, retries, DLQ.

Every test gets its own schema (outbox and inbox components applied) and its own namespace inside this module's
vhost, so exact counts in tables and queues are the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_CONFIRMED,
    SUBSCRIPTIONS,
    always_routed_types,
)
from smartslot_common.db import create_pool, pool_context
from smartslot_common.messaging import (
    RELAY_IN_PROCESS_SETTING,
    AfterCommit,
    Event,
    EventConsumer,
    EventPublisher,
    GatheringHandlers,
    Handler,
    IdempotentHandler,
    OutboxRelay,
    PermanentError,
    PublishFailed,
    Unroutable,
    add_to_outbox,
    amqp_context,
    amqp_readiness,
    consumer_context,
    declare_topology,
    relay_context,
    wake_local_relays,
)
from smartslot_common.messaging import consumer as consumer_module
from smartslot_common.messaging.deliveries import DEAD_LETTER_REASON_HEADER
from smartslot_common.messaging.envelope import EVENTS_HEADER, events_of
from smartslot_common.messaging.outbox import MAX_EVENTS_PER_MESSAGE, notify_channel
from smartslot_common.messaging.topology import (
    TopologyMismatch,
    dead_letter_exchange_name,
    dead_letter_queue_name,
    exchange_name,
    queue_name,
)
from smartslot_common.messaging.wal import WalPosition
from smartslot_common.migrations.runner import Migration, apply_migrations, component_plan
from smartslot_common.testing import IsolatedStack, isolated_stack, wait_for

pytestmark = pytest.mark.integration

CONSUMER = "notifier"
EVENT_TYPE = APPOINTMENT_CONFIRMED  # the notifier subscribes to appointment.*
DELAYS = (0.1, 0.2, 0.3)
WAIT = 10.0


def _component_plan() -> list[Migration]:
    return component_plan("outbox", "inbox")


@dataclass
class World:
    """One test's schema, namespace, pool and broker connection, with helpers to look at them."""

    stack: IsolatedStack
    schema: str
    namespace: str
    pool: asyncpg.Pool
    amqp: AbstractRobustConnection
    publisher: EventPublisher
    calls: list[UUID] = field(default_factory=list)
    transactions: dict[UUID, int] = field(default_factory=dict)

    def event(self, type: str = EVENT_TYPE, **payload: Any) -> Event:
        return Event.create(type, payload, producer="test")

    async def count(self, sql: str, *args: Any) -> int:
        return int(await self.pool.fetchval(sql, *args))

    async def effects(self, event: Event) -> int:
        return await self.count("SELECT count(*) FROM effects WHERE event_id = $1", event.id)

    async def commit(self, *events: Event, fail: bool = False) -> None:
        """Write `events` in a business transaction that commits, or fails after writing them."""
        async with self.pool.acquire() as connection, connection.transaction():
            await add_to_outbox(connection, *events)
            if fail:
                raise RuntimeError("business change failed on purpose")

    def consumer(
        self, handlers: Mapping[str, Handler] | IdempotentHandler, amqp: AbstractRobustConnection | None = None,
        workers: int = 4,
    ) -> EventConsumer:
        return EventConsumer(amqp or self.amqp, self.pool, CONSUMER, self.namespace, handlers, retry_delays=DELAYS,
                             workers=workers)

    def relay(self, publisher: EventPublisher | None = None, **options: Any) -> OutboxRelay:
        options = {"poll_interval": 0.1, "retry_base": 0.05, "retry_cap": 0.2} | options
        return OutboxRelay(self.pool, publisher or self.publisher, self.schema, **options)

    async def queue_depth(self, name: str) -> int:
        async with self.amqp.channel() as channel:
            queue = await channel.declare_queue(name, passive=True)
            return queue.declaration_result.message_count or 0

    async def dead_letters(self, expected: int) -> list[AbstractIncomingMessage]:
        """Take exactly `expected` messages off the consumer's DLQ, failing if they do not arrive."""
        taken: list[AbstractIncomingMessage] = []
        async with self.amqp.channel() as channel:
            queue = await channel.declare_queue(dead_letter_queue_name(self.namespace, CONSUMER), passive=True)

            async def take_one() -> bool:
                message = await queue.get(no_ack=True, fail=False)
                if message is not None:
                    taken.append(message)
                return len(taken) >= expected

            await wait_for(take_one, WAIT, what=f"{expected} dead letters")
            assert await queue.get(no_ack=True, fail=False) is None, "more dead letters than expected"
        return taken

    def recorder(self, fail_first: int = 0, error: type[Exception] = RuntimeError) -> Handler:
        """A handler that writes one effect row per application, failing its first `fail_first` calls."""

        async def record(connection: asyncpg.Connection, event: Event) -> None:
            self.calls.append(event.id)
            await connection.execute("INSERT INTO effects (event_id) VALUES ($1)", event.id)
            if len(self.calls) <= fail_first:
                raise error(f"failure {len(self.calls)} on purpose")

        return record


def _equals(probe: Callable[[], Awaitable[Any]], expected: Any) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await probe() == expected

    return check


def _holds(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()

    return check


def consumed(outcome: str, event_type: str = EVENT_TYPE) -> float:
    labels = {"consumer": CONSUMER, "event_type": event_type, "outcome": outcome}
    return REGISTRY.get_sample_value("smartslot_events_consumed_total", labels) or 0.0


@contextlib.asynccontextmanager
async def consuming(consumer: EventConsumer) -> AsyncIterator[EventConsumer]:
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def relaying(relay: OutboxRelay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture(scope="module")
async def servers() -> AsyncIterator[IsolatedStack]:
    async with isolated_stack(services=()) as stack:
        yield stack


@pytest.fixture(scope="module")
async def amqp(servers: IsolatedStack) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(servers.amqp_url)
    yield connection
    await connection.close()


@pytest.fixture
async def world(servers: IsolatedStack, amqp: AbstractRobustConnection) -> AsyncIterator[World]:
    suffix = secrets.token_hex(3)
    schema, namespace = f"m_{suffix}", f"{servers.namespace}{suffix}."
    connection = await asyncpg.connect(servers.database_url)
    try:
        await apply_migrations(connection, schema, _component_plan())
        await connection.execute(f'CREATE TABLE "{schema}".effects (event_id uuid NOT NULL)')
    finally:
        await connection.close()
    async with amqp.channel() as channel:
        await declare_topology(channel, namespace, DELAYS, {CONSUMER: SUBSCRIPTIONS[CONSUMER]})
    pool = await create_pool(servers.database_url, schema, min_size=1, max_size=6)
    publisher = EventPublisher(amqp, namespace, timeout=5.0)
    yield World(servers, schema, namespace, pool, amqp, publisher)
    await publisher.close()
    await pool.close()


# (a) outbox -> relay -> broker -> consumer


async def test_committed_event_is_applied_exactly_once_and_rolled_back_one_never_leaves(world: World) -> None:
    committed, rolled_back = world.event(), world.event()
    await world.commit(committed)
    with pytest.raises(RuntimeError, match="on purpose"):
        await world.commit(rolled_back, fail=True)

    async with consuming(world.consumer({EVENT_TYPE: world.recorder()})), relaying(world.relay()):
        await wait_for(lambda: world.effects(committed), WAIT, what="the committed event applied")
        await wait_for(
            _equals(lambda: world.queue_depth(queue_name(world.namespace, CONSUMER)), 0), WAIT, what="the queue drained"
        )

        # The relay marks the batch after the broker's confirms; the consumer may have applied it before that.
        await wait_for(lambda: world.pool.fetchval(
            "SELECT published_at IS NOT NULL FROM outbox WHERE id = $1", committed.id), WAIT, what="the row marked")

    assert await world.count("SELECT count(*) FROM effects") == 1
    assert await world.count("SELECT count(*) FROM inbox WHERE consumer = $1", CONSUMER) == 1
    assert await world.count("SELECT count(*) FROM outbox") == 1
    row = await world.pool.fetchrow("SELECT published_at, attempts, last_error FROM outbox WHERE id = $1", committed.id)
    assert row["published_at"] is not None
    assert (row["attempts"], row["last_error"]) == (1, None)
    assert world.calls == [committed.id]


async def test_a_consumer_exports_the_types_it_hears_and_the_relay_its_last_success(world: World) -> None:
    """What the alerts compare: events of the consumer's types published with those it handled (ConsumerNotConsuming),
    and the relay's last success with its poll interval (BackgroundJobNotSucceeding)."""
    before = time.time()

    async def relay_succeeded() -> bool:
        labels = {"background_job": "outbox-relay"}
        return (REGISTRY.get_sample_value("smartslot_job_last_success_timestamp_seconds", labels) or 0) >= before

    async with consuming(world.consumer({EVENT_TYPE: world.recorder()})), relaying(world.relay()):
        await wait_for(relay_succeeded, WAIT, what="a successful drain exported")
        subscribed = {
            sample.labels["event_type"]
            for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())
            for sample in family.samples
            if sample.name == "smartslot_consumer_subscribed_event_types" and sample.labels["consumer"] == CONSUMER
        }
    assert subscribed == set(always_routed_types(CONSUMER))
    assert EVENT_TYPE in subscribed
    assert REGISTRY.get_sample_value("smartslot_job_interval_seconds", {"background_job": "outbox-relay"}) == 0.1


async def test_outbox_refuses_writes_outside_a_transaction(world: World) -> None:
    async with world.pool.acquire() as connection:
        with pytest.raises(RuntimeError, match="inside the business transaction"):
            await add_to_outbox(connection, world.event())

    assert await world.count("SELECT count(*) FROM outbox") == 0


async def test_relay_publishes_in_created_order_and_reports_the_backlog(world: World) -> None:
    events = [world.event(n=n) for n in range(5)]
    await world.commit(*events)
    seen: list[UUID] = []

    class Recording:
        async def publish_together(self, events: Sequence[Event], position: WalPosition | None = None) -> None:
            seen.extend(event.id for event in events)

    assert await world.relay(Recording(), batch_size=3).drain_once() == 3
    assert REGISTRY.get_sample_value("smartslot_outbox_backlog") == 2
    assert await world.relay(Recording(), batch_size=3).drain_once() == 2
    assert REGISTRY.get_sample_value("smartslot_outbox_backlog") == 0
    assert seen == [event.id for event in events]


# (b) duplicates and events nobody here handles


async def test_same_event_delivered_twice_has_one_effect(world: World) -> None:
    event, other = world.event(), world.event(APPOINTMENT_CANCELLED)
    duplicates, ignored = consumed("duplicate"), consumed("ignored", APPOINTMENT_CANCELLED)

    async with consuming(world.consumer({EVENT_TYPE: world.recorder()})):
        for published in (event, event, other):
            await world.publisher.publish(published)
        await wait_for(_holds(lambda: consumed("duplicate") == duplicates + 1), WAIT, what="the duplicate dropped")
        await wait_for(
            _holds(lambda: consumed("ignored", APPOINTMENT_CANCELLED) == ignored + 1),
            WAIT,
            what="the unhandled type acked",
        )

    assert await world.effects(event) == 1
    assert world.calls == [event.id]
    assert await world.count("SELECT count(*) FROM inbox") == 1  # the ignored type claims nothing
    assert await world.queue_depth(queue_name(world.namespace, CONSUMER)) == 0


# (c) retries through the TTL tiers


async def test_handler_failing_twice_is_retried_through_the_tiers_and_applied_once(world: World) -> None:
    event = world.event()
    retried, applied = consumed("retried"), consumed("applied")
    started = time.monotonic()

    async with consuming(world.consumer({EVENT_TYPE: world.recorder(fail_first=2)})):
        await world.publisher.publish(event)
        await wait_for(lambda: world.effects(event), WAIT, what="the event applied after two failures")
    elapsed = time.monotonic() - started

    assert world.calls == [event.id] * 3
    assert await world.effects(event) == 1  # the failed attempts' rows were rolled back
    assert await world.count("SELECT count(*) FROM inbox") == 1
    assert (consumed("retried") - retried, consumed("applied") - applied) == (2, 1)
    assert elapsed >= DELAYS[0] + DELAYS[1]  # it waited in tiers 1 and 2
    assert await world.queue_depth(dead_letter_queue_name(world.namespace, CONSUMER)) == 0


async def test_handler_failing_every_time_ends_in_the_dead_letter_queue(world: World) -> None:
    event = world.event()

    async with consuming(world.consumer({EVENT_TYPE: world.recorder(fail_first=99)})):
        await world.publisher.publish(event)
        [dead] = await world.dead_letters(1)

    assert world.calls == [event.id] * (len(DELAYS) + 1)
    assert dead.message_id == str(event.id)
    assert dead.headers["smartslot-attempt"] == len(DELAYS)
    assert dead.headers[DEAD_LETTER_REASON_HEADER] == "exhausted"
    assert Event.from_json(dead.body) == event
    assert await world.count("SELECT count(*) FROM effects") + await world.count("SELECT count(*) FROM inbox") == 0


# (d) dead-lettered at once


async def test_permanent_error_and_undecodable_message_are_dead_lettered_at_once(world: World) -> None:
    event = world.event()
    dead_lettered = consumed("dead_lettered") + consumed("dead_lettered", "invalid")

    async with consuming(world.consumer({EVENT_TYPE: world.recorder(fail_first=99, error=PermanentError)})):
        await world.publisher.publish(event)
        async with world.amqp.channel() as channel:
            exchange = await channel.get_exchange(exchange_name(world.namespace), ensure=False)
            await exchange.publish(aio_pika.Message(b"{not json", message_id="garbage"), routing_key=EVENT_TYPE)
        dead = await world.dead_letters(2)

    assert sorted(message.message_id for message in dead) == sorted([str(event.id), "garbage"])
    assert world.calls == [event.id]  # no retries
    reasons = {message.message_id: message.headers[DEAD_LETTER_REASON_HEADER] for message in dead}
    assert reasons == {str(event.id): "rejected", "garbage": "invalid"}
    assert consumed("dead_lettered") + consumed("dead_lettered", "invalid") - dead_lettered == 2
    assert await world.count("SELECT count(*) FROM effects") + await world.count("SELECT count(*) FROM inbox") == 0


# (e) unroutable


async def test_unroutable_event_is_marked_and_does_not_hold_up_the_batch(world: World) -> None:
    nobody, somebody = world.event("nobody.listens"), world.event()
    await world.commit(nobody, somebody)

    assert await world.relay().drain_once() == 2

    rows = await world.pool.fetch("SELECT id, published_at, last_error FROM outbox")
    state = {row["id"]: (row["published_at"] is not None, row["last_error"]) for row in rows}
    assert state == {nobody.id: (True, "unroutable"), somebody.id: (True, None)}
    assert await world.queue_depth(queue_name(world.namespace, CONSUMER)) == 1


async def test_a_subscribed_event_returned_for_want_of_its_binding_waits_and_goes_once_the_binding_is_back(
    world: World,
) -> None:
    orphan = world.event("orphan.subscribed")  # a queue subscribes to it (below), but its binding is missing
    relay = world.relay(subscriptions={"elsewhere": ("orphan.#",)})
    await world.commit(orphan)

    assert await relay.drain_once() == 0

    row = await world.pool.fetchrow("SELECT published_at, attempts, last_error, next_attempt_at > created_at AS later"
                                    " FROM outbox WHERE id = $1", orphan.id)
    assert row is not None
    assert (row["published_at"], row["attempts"], row["later"]) == (None, 1, True), row
    assert row["last_error"].startswith("unroutable"), row
    assert REGISTRY.get_sample_value("smartslot_outbox_backlog") == 1

    queue_name_ = f"{world.namespace}orphans"
    async with world.amqp.channel() as channel:
        queue = await channel.declare_queue(queue_name_, auto_delete=True)
        await queue.bind(exchange_name(world.namespace), routing_key="orphan.#")

        async def sent() -> bool:
            return await relay.drain_once() == 1

        await wait_for(sent, WAIT, interval=0.05, what="the row to go out once its binding is back")
        assert await world.pool.fetchval("SELECT last_error FROM outbox WHERE id = $1", orphan.id) is None
        message = await queue.get(no_ack=True, fail=False)
        assert message is not None
        assert message.message_id == str(orphan.id)
        await queue.delete(if_unused=False, if_empty=False)


async def test_a_batch_is_settled_message_by_message_by_its_confirms(world: World) -> None:
    # Three routing keys in turn: three messages, the second of which the broker refuses.
    first, refused, last = world.event(n=1), world.event(APPOINTMENT_CANCELLED, n=2), world.event(n=3)
    await world.commit(first, refused, last)
    sent: list[UUID] = []

    class RefusesOne:
        async def publish_together(self, events: Sequence[Event], position: WalPosition | None = None) -> None:
            if refused in events:
                raise PublishFailed("nacked on purpose")
            sent.extend(event.id for event in events)

    assert await world.relay(RefusesOne(), retry_base=30.0, retry_cap=30.0).drain_once() == 2

    rows = await world.pool.fetch("SELECT id, published_at, attempts, next_attempt_at - now() AS wait FROM outbox")
    state = {row["id"]: (row["published_at"] is not None, row["attempts"]) for row in rows}
    assert state == {first.id: (True, 1), refused.id: (False, 1), last.id: (True, 1)}
    assert sent == [first.id, last.id], "published in created order"
    wait = next(row["wait"] for row in rows if row["id"] == refused.id).total_seconds()
    assert 0 < wait <= 30, "the broker refused it: due again after the base delay, not an exponential back-off"


async def test_a_row_that_cannot_be_read_backs_off_exponentially(world: World) -> None:
    broken = world.event()
    await world.commit(broken)
    await world.pool.execute("UPDATE outbox SET envelope = '{\"not\": \"an envelope\"}', attempts = 7 WHERE id = $1",
                             broken.id)

    assert await world.relay(retry_base=1.0, retry_cap=600.0).drain_once() == 0

    wait = await world.pool.fetchval("SELECT extract(epoch FROM next_attempt_at - now()) FROM outbox WHERE id = $1",
                                     broken.id)
    assert 60 < wait <= 600, "1 s doubled per earlier attempt: 2^7 s"


# (e2) routing: each queue hears only what its service handles


async def test_a_client_booking_reaches_notifier_and_availability_but_not_the_waitlist(world: World) -> None:
    namespace = world.namespace + "all."
    async with world.amqp.channel() as channel:
        await declare_topology(channel, namespace, DELAYS)
    publisher = EventPublisher(world.amqp, namespace, timeout=5.0)
    try:
        await publisher.publish(world.event(APPOINTMENT_CONFIRMED, origin="client"))
        await publisher.publish(world.event(APPOINTMENT_CONFIRMED, origin="waitlist"))
        await publisher.publish(world.event(APPOINTMENT_CANCELLED, origin="client"))
    finally:
        await publisher.close()

    depths = {consumer: await world.queue_depth(queue_name(namespace, consumer)) for consumer in SUBSCRIPTIONS}
    assert depths == {"notifier": 3, "availability": 3, "waitlist": 2}


async def test_a_retired_binding_is_dropped_at_start_up(world: World) -> None:
    namespace = world.namespace + "old."
    async with world.amqp.channel() as channel:
        await declare_topology(channel, namespace, DELAYS, retired={})
        events = await channel.get_exchange(exchange_name(namespace), ensure=False)
        queue = await channel.get_queue(queue_name(namespace, "availability"), ensure=False)
        await queue.bind(events, routing_key="waitlist.offer_*")  # as an earlier release bound it
        await declare_topology(channel, namespace, DELAYS)
    publisher = EventPublisher(world.amqp, namespace, timeout=5.0)
    try:
        await publisher.publish(world.event("waitlist.offer_made"))
    finally:
        await publisher.close()

    assert await world.queue_depth(queue_name(namespace, "notifier")) == 1
    assert await world.queue_depth(queue_name(namespace, "availability")) == 0


# (f) broker outage


async def test_relay_keeps_rows_while_the_broker_is_unreachable_and_publishes_them_after(world: World) -> None:
    before, during = world.event(), [world.event(), world.event()]
    async with TcpProxy(urlsplit(world.stack.amqp_url)) as proxy:
        connection = await aio_pika.connect_robust(proxy.url, reconnect_interval=0.1)
        publisher = EventPublisher(connection, world.namespace, timeout=2.0)
        try:
            # The consumer shares the broken connection: it must come back by itself too.
            consumer = world.consumer({EVENT_TYPE: world.recorder()}, amqp=connection)
            async with consuming(consumer), relaying(world.relay(publisher)):
                await world.commit(before)
                await wait_for(lambda: world.effects(before), WAIT, what="the event before the outage")

                await proxy.cut()
                await world.commit(*during)
                await wait_for(
                    lambda: world.count("SELECT count(*) FROM outbox WHERE last_error IS NOT NULL"),
                    WAIT,
                    what="a failed publish attempt",
                )
                assert await world.count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 2

                await proxy.restore()
                await wait_for(
                    _equals(lambda: world.count("SELECT count(*) FROM effects"), 3),
                    WAIT,
                    what="the events held back during the outage applied",
                )
                await wait_for(  # marked after the confirms: the consumer can be quicker than that
                    _equals(lambda: world.count("SELECT count(*) FROM outbox WHERE published_at IS NULL"), 0),
                    WAIT,
                    what="every row marked published",
                )
        finally:
            await publisher.close()
            await connection.close()

    assert await world.count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    for event in (before, *during):
        assert await world.effects(event) == 1
    assert await world.count("SELECT max(attempts) FROM outbox") >= 2


async def test_consumer_waits_out_a_lost_database_connection_without_spending_a_retry(world: World) -> None:
    event = world.event()
    retried = consumed("retried")
    record = world.recorder()

    async def lose_connection_first(connection: asyncpg.Connection, delivered: Event) -> None:
        await record(connection, delivered)
        if len(world.calls) == 1:
            await connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    async with consuming(world.consumer({EVENT_TYPE: lose_connection_first})):
        await world.publisher.publish(event)
        await wait_for(lambda: world.effects(event), WAIT, what="the event applied on a fresh connection")

    assert world.calls == [event.id, event.id]
    assert await world.effects(event) == 1
    assert consumed("retried") == retried


async def test_competing_relays_publish_each_row_once(world: World) -> None:
    events = [world.event(n=n) for n in range(40)]
    await world.commit(*events)
    published: list[UUID] = []

    class Slow:
        async def publish_together(self, events: Sequence[Event], position: WalPosition | None = None) -> None:
            await asyncio.sleep(0.001)  # keep both relays' batches open at the same time
            published.extend(event.id for event in events)

    relays = [world.relay(Slow(), batch_size=7) for _ in range(2)]
    while await world.count("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
        await asyncio.gather(*(relay.drain_once() for relay in relays))

    assert sorted(published) == sorted(event.id for event in events)


async def test_relay_listens_again_after_losing_its_connection(world: World) -> None:
    first, second = world.event(), world.event()
    # With a poll this long, only a notification gets an event out within the test's patience.
    async with consuming(world.consumer({EVENT_TYPE: world.recorder()})), relaying(world.relay(poll_interval=60)):
        await wait_for(lambda: _relay_listening(world, set()), WAIT, what="the relay listening")
        killed = await _terminate_listeners(world)
        assert killed
        await world.commit(first)
        await wait_for(lambda: world.effects(first), WAIT, what="the event after the LISTEN connection died")
        await wait_for(lambda: _relay_listening(world, killed), WAIT, what="the relay listening again")
        await world.commit(second)
        await wait_for(lambda: world.effects(second), WAIT, what="an event woken by the new LISTEN")

    assert world.calls == [first.id, second.id]


async def _commit_relayed_in_process(world: World, event: Event) -> None:
    """Write `event` as a service whose relay runs in its own process does (its pool's connections carry
    RELAY_IN_PROCESS_SETTING)."""
    async with world.pool.acquire() as connection, connection.transaction():
        await connection.execute(f"SET LOCAL {RELAY_IN_PROCESS_SETTING} = 'on'")
        await add_to_outbox(connection, event)


async def test_a_writer_whose_relay_runs_in_its_own_process_sends_no_notification(world: World) -> None:
    heard: list[str] = []
    listener = await asyncpg.connect(world.stack.database_url)
    try:
        # asyncpg calls a listener with (connection, pid, channel, payload)
        await listener.add_listener(notify_channel(world.schema), lambda *args: heard.append(str(args[2])))
        await _commit_relayed_in_process(world, world.event())
        await world.commit(world.event())  # any other writer still notifies

        async def notified() -> bool:
            return bool(heard)

        await wait_for(notified, WAIT, what="the other writer's notification")
        # Notifications arrive in commit order: one from the first commit would have come before this one.
        assert heard == [notify_channel(world.schema)]
    finally:
        await listener.close()


async def test_a_commit_of_this_process_wakes_its_relay_without_a_notification(world: World) -> None:
    event = world.event()
    # With a poll this long and no notification, only the wake in process gets the event out in time.
    async with consuming(world.consumer({EVENT_TYPE: world.recorder()})), relaying(world.relay(poll_interval=60)):
        await wait_for(lambda: _relay_listening(world, set()), WAIT, what="the relay listening")
        await _commit_relayed_in_process(world, event)
        wake_local_relays()  # what the unit of work does after such a commit
        await wait_for(lambda: world.effects(event), WAIT, what="the event, its relay woken in process")
    assert world.calls == [event.id]


async def test_publisher_reports_unroutable_and_unconfirmed_events(world: World) -> None:
    with pytest.raises(Unroutable):
        await world.publisher.publish(world.event("nobody.listens"))
    await world.publisher.publish(world.event())  # the channel survives a returned message

    closed = await aio_pika.connect(world.stack.amqp_url)
    publisher = EventPublisher(closed, world.namespace, timeout=2.0)
    await publisher.publish(world.event())
    await closed.close()
    with pytest.raises(PublishFailed):
        await publisher.publish(world.event())
    await publisher.close()

    assert await world.queue_depth(queue_name(world.namespace, CONSUMER)) == 2


async def test_trace_continues_from_the_producer_through_a_retry(world: World) -> None:
    # Without an SDK the consumer span is non-recording but still carries the producer's trace, so this
    # needs no process-wide tracer provider; with one configured, the span is a real child of the same trace.
    producer = SpanContext(
        0x5EED_0000_0000_0000_0000_0000_0000_0001,
        0x00F0_67AA_0BA9_02B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(producer)):
        event = world.event()
    await world.commit(event)
    traces: list[int] = []
    record = world.recorder(fail_first=1)

    async def traced(connection: asyncpg.Connection, delivered: Event) -> None:
        traces.append(trace.get_current_span().get_span_context().trace_id)
        await record(connection, delivered)

    async with consuming(world.consumer({EVENT_TYPE: traced})), relaying(world.relay()):
        await wait_for(lambda: world.effects(event), WAIT, what="the event applied")

    assert traces == [producer.trace_id, producer.trace_id]


async def test_consumer_dying_mid_handler_gets_the_message_redelivered_and_applied_once(world: World) -> None:
    event = world.event()
    doomed = await aio_pika.connect(world.stack.amqp_url)  # plain: it must stay dead once closed
    dying: list[asyncio.Task[None]] = []
    record = world.recorder()

    async def die_on_first_delivery(connection: asyncpg.Connection, delivered: Event) -> None:
        await record(connection, delivered)
        if len(world.calls) == 1:
            dying.append(asyncio.create_task(doomed.close()))  # the process goes away mid-transaction
            await asyncio.Event().wait()

    first = world.consumer({EVENT_TYPE: die_on_first_delivery}, amqp=doomed)
    await first.start()
    await world.publisher.publish(event)
    await wait_for(_holds(lambda: bool(dying)), WAIT, what="the first consumer to take the event")
    await dying[0]
    await first.stop()

    async with consuming(world.consumer({EVENT_TYPE: die_on_first_delivery})):
        await wait_for(lambda: world.effects(event), WAIT, what="the redelivered event applied")

    assert world.calls == [event.id, event.id]
    assert await world.effects(event) == 1
    assert await world.count("SELECT count(*) FROM inbox") == 1


# batches: what is in hand is applied together; a failing event is retried alone


async def _held_first(world: World, release: asyncio.Event, later: list[Event]) -> None:
    """Publish a first event whose handling waits for `release`, then `later` while it waits, so that they are all
    in the consumer's hand (none ready in the queue) when the first one finishes: with one worker, one batch."""
    await world.publisher.publish(world.event(first=True))
    await wait_for(_holds(lambda: bool(world.calls)), WAIT, what="the first event in hand")
    for event in later:
        await world.publisher.publish(event)
    await wait_for(
        _equals(lambda: world.queue_depth(queue_name(world.namespace, CONSUMER)), 0), WAIT, what="all delivered"
    )
    release.set()


def _holding_first(world: World, release: asyncio.Event, poison: set[UUID] | None = None) -> Handler:
    """A recorder that also notes each event's transaction; the first event waits for `release`, poison fails."""
    record = world.recorder()

    async def handle(connection: asyncpg.Connection, event: Event) -> None:
        await record(connection, event)
        world.transactions[event.id] = await connection.fetchval("SELECT txid_current()")
        if event.payload.get("first"):
            await release.wait()
        if event.id in (poison or set()):
            raise RuntimeError("poison, on purpose")

    return handle


async def test_events_in_hand_are_applied_in_one_transaction_and_acked_together(world: World) -> None:
    release, later = asyncio.Event(), [world.event(n=n) for n in range(4)]
    applied, duplicates = consumed("applied"), consumed("duplicate")

    async with consuming(world.consumer({EVENT_TYPE: _holding_first(world, release)}, workers=1)):
        await _held_first(world, release, [*later, later[0]])  # one published twice
        await wait_for(_holds(lambda: consumed("applied") - applied == 5), WAIT, what="every event applied")
        await wait_for(
            _equals(lambda: world.queue_depth(queue_name(world.namespace, CONSUMER)), 0), WAIT, what="all acked"
        )

    assert len({world.transactions[event.id] for event in later}) == 1
    for event in later:
        assert await world.effects(event) == 1
    assert await world.count("SELECT count(*) FROM inbox") == 5
    assert (consumed("applied") - applied, consumed("duplicate") - duplicates) == (5, 1)


async def test_a_failing_event_in_a_batch_is_retried_alone_and_the_others_are_applied_once(world: World) -> None:
    release, later = asyncio.Event(), [world.event(n=n) for n in range(3)]
    poison = later[1]

    async with consuming(world.consumer({EVENT_TYPE: _holding_first(world, release, {poison.id})}, workers=1)):
        await _held_first(world, release, later)
        [dead] = await world.dead_letters(1)

    assert dead.message_id == str(poison.id)
    assert [await world.effects(event) for event in later] == [1, 0, 1]
    assert await world.count("SELECT count(*) FROM inbox") == 3  # the first event and the two good ones
    assert world.calls.count(poison.id) == 1 + len(DELAYS) + 1  # in the batch, alone, then once per retry tier


# several events in one message: what a relay sends of one routing key in a row


async def _relayed_in_one_drain(world: World, events: list[Event]) -> None:
    await world.commit(*events)
    assert await world.relay().drain_once() == len(events)


async def test_a_run_of_events_of_one_routing_key_travels_in_one_message_and_each_is_applied_once(
    world: World,
) -> None:
    confirmed = [world.event(n=n) for n in range(MAX_EVENTS_PER_MESSAGE + 2)]
    cancelled, last = world.event(APPOINTMENT_CANCELLED), [world.event(n=n) for n in range(2)]
    everything = [*confirmed, cancelled, *last]
    await _relayed_in_one_drain(world, everything)

    # In created order, a run of one key at most MAX_EVENTS_PER_MESSAGE to a message: 32 + 2, 1, 2.
    assert await world.queue_depth(queue_name(world.namespace, CONSUMER)) == 4
    async with world.amqp.channel() as channel:
        queue = await channel.declare_queue(queue_name(world.namespace, CONSUMER), passive=True)
        first = await queue.get(no_ack=False)
        assert first.headers[EVENTS_HEADER] == MAX_EVENTS_PER_MESSAGE
        assert first.message_id == str(confirmed[0].id)
        assert first.type == EVENT_TYPE
        assert events_of(first.body) == confirmed[:MAX_EVENTS_PER_MESSAGE]
        await first.nack(requeue=True)

    handler = world.recorder()
    async with consuming(world.consumer(dict.fromkeys((EVENT_TYPE, APPOINTMENT_CANCELLED), handler), workers=1)):
        await wait_for(_equals(lambda: world.count("SELECT count(*) FROM effects"), len(everything)), WAIT,
                       what="every event applied")
        await wait_for(_equals(lambda: world.queue_depth(queue_name(world.namespace, CONSUMER)), 0), WAIT,
                       what="every message acknowledged")

    assert sorted(world.calls) == sorted(event.id for event in everything)  # each once: no retry, no duplicate
    assert await world.count("SELECT count(*) FROM inbox") == len(everything)


async def test_a_failing_event_of_a_message_is_retried_or_dead_lettered_alone_and_the_others_applied_once(
    world: World,
) -> None:
    good, flaky, refused, also_good = (world.event(n=n) for n in range(4))
    failures = {flaky.id: 2, refused.id: 99}
    record = world.recorder()

    async def handle(connection: asyncpg.Connection, event: Event) -> None:
        await record(connection, event)
        if failures.get(event.id, 0) > 0:
            failures[event.id] -= 1
            raise (PermanentError if event.id == refused.id else RuntimeError)("on purpose")

    retried = consumed("retried")
    await _relayed_in_one_drain(world, [good, flaky, refused, also_good])
    assert await world.queue_depth(queue_name(world.namespace, CONSUMER)) == 1

    async with consuming(world.consumer({EVENT_TYPE: handle})):
        [dead] = await world.dead_letters(1)
        await wait_for(lambda: world.effects(flaky), WAIT, what="the flaky event applied after its retries")

    assert (dead.message_id, dead.headers[DEAD_LETTER_REASON_HEADER]) == (str(refused.id), "rejected")
    assert EVENTS_HEADER not in dead.headers
    assert events_of(dead.body) == [refused]
    assert [await world.effects(event) for event in (good, flaky, refused, also_good)] == [1, 1, 0, 1]
    assert world.calls.count(good.id) == 2  # in the batch (rolled back with it), then alone
    assert world.calls.count(also_good.id) == 1  # alone: the batch stopped at the flaky event
    assert world.calls.count(flaky.id) == 3  # in the batch and alone (both failed), then from retry tier 1
    assert consumed("retried") - retried == 1
    assert await world.queue_depth(queue_name(world.namespace, CONSUMER)) == 0


async def test_a_message_whose_failing_event_the_broker_does_not_take_comes_back_whole_and_nothing_is_lost(
    world: World, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_module, "MOVE_TIMEOUT_SECONDS", 1.0)
    good, refused, also_good = (world.event(n=n) for n in range(3))
    record = world.recorder()

    async def handle(connection: asyncpg.Connection, event: Event) -> None:
        await record(connection, event)
        if event.id == refused.id:
            raise PermanentError("on purpose")

    async with consuming(world.consumer({EVENT_TYPE: handle})):
        async with world.amqp.channel() as channel:  # the refused event's dead letter cannot be published
            await channel.exchange_delete(dead_letter_exchange_name(world.namespace))
        await _relayed_in_one_drain(world, [good, refused, also_good])
        # In the batch, then alone (its dead letter refused: the message goes back whole), then again.
        await wait_for(_holds(lambda: world.calls.count(refused.id) >= 3), WAIT, what="the message back again")
        assert [await world.effects(event) for event in (good, refused, also_good)] == [1, 0, 1]
        async with world.amqp.channel() as channel:
            await declare_topology(channel, world.namespace, DELAYS, {CONSUMER: SUBSCRIPTIONS[CONSUMER]})
        [dead] = await world.dead_letters(1)
        await wait_for(_equals(lambda: world.queue_depth(queue_name(world.namespace, CONSUMER)), 0), WAIT,
                       what="the message settled")

    assert events_of(dead.body) == [refused]
    assert [await world.effects(event) for event in (good, refused, also_good)] == [1, 0, 1]
    assert await world.count("SELECT count(*) FROM inbox") == 2


async def test_each_event_of_a_message_continues_its_own_trace(world: World) -> None:
    producers = [SpanContext(0x5EED_0000_0000_0000_0000_0000_0000_0010 + n, 0x00F0_67AA_0BA9_0200 + n,
                             is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)) for n in range(3)]
    events = []
    for producer in producers:
        with trace.use_span(NonRecordingSpan(producer)):
            events.append(world.event())
    traces: dict[UUID, int] = {}
    record = world.recorder()

    async def traced(connection: asyncpg.Connection, delivered: Event) -> None:
        traces[delivered.id] = trace.get_current_span().get_span_context().trace_id
        await record(connection, delivered)

    await _relayed_in_one_drain(world, events)
    async with consuming(world.consumer({EVENT_TYPE: traced})):
        await wait_for(_equals(lambda: world.count("SELECT count(*) FROM effects"), 3), WAIT, what="all applied")

    assert traces == {event.id: producer.trace_id for event, producer in zip(events, producers, strict=True)}


class _Gathering:
    """Handlers that gather each event's effect per connection and write the batch's in one statement at its end;
    the poison event fails in its handler, after the earlier ones were gathered."""

    def __init__(self, world: World, release: asyncio.Event, poison: UUID | None = None) -> None:
        self.world, self.release, self.poison = world, release, poison
        self.pending: dict[Any, list[UUID]] = {}
        self.flushed: list[list[UUID]] = []
        self.after_commit: list[list[UUID]] = []

    def handlers(self) -> GatheringHandlers:
        return GatheringHandlers({EVENT_TYPE: self.handle}, self.flush, self.discard)

    async def handle(self, connection: asyncpg.Connection, event: Event) -> None:
        self.world.calls.append(event.id)
        self.pending.setdefault(connection, []).append(event.id)
        if event.payload.get("first"):
            await self.release.wait()
        if event.id == self.poison:
            raise RuntimeError("poison, on purpose")

    async def flush(self, connection: asyncpg.Connection) -> list[Callable[[], Awaitable[None]]]:
        ids = self.pending.pop(connection, [])
        assert connection.is_in_transaction(), "written inside the batch's transaction"
        await connection.executemany("INSERT INTO effects (event_id) VALUES ($1)", [(event_id,) for event_id in ids])
        self.flushed.append(ids)

        async def after() -> None:
            self.after_commit.append(ids)

        return [after]

    def discard(self, connection: asyncpg.Connection) -> None:
        self.pending.pop(connection, None)


async def test_gathered_writes_go_at_the_end_of_the_batch_and_a_failed_batchs_are_forgotten(world: World) -> None:
    release, later = asyncio.Event(), [world.event(n=n) for n in range(3)]
    gathering = _Gathering(world, release, poison=later[1].id)

    async with consuming(world.consumer(gathering.handlers(), workers=1)):
        await _held_first(world, release, later)
        [dead] = await world.dead_letters(1)
        await wait_for(_holds(lambda: sum(map(len, gathering.after_commit)) == 3), WAIT,
                       what="the good events' after-commit actions")

    assert dead.message_id == str(later[1].id)
    # The batch of four failed at the poison: what it had gathered was forgotten, then each event went alone.
    assert [await world.effects(event) for event in later] == [1, 0, 1]
    flushed = [ids for ids in gathering.flushed if ids]
    assert [len(ids) for ids in flushed] == [1, 1, 1], "each good event alone, once"
    assert {later[0].id, later[2].id} <= {ids[0] for ids in flushed}
    assert later[1].id not in {ids[0] for ids in flushed}
    assert gathering.after_commit == gathering.flushed, "each committed flush's actions ran"
    assert gathering.pending == {}


async def test_gathered_writes_of_a_batch_are_written_together_once(world: World) -> None:
    release, later = asyncio.Event(), [world.event(n=n) for n in range(4)]
    gathering = _Gathering(world, release)

    async with consuming(world.consumer(gathering.handlers(), workers=1)):
        await _held_first(world, release, later)
        await wait_for(_holds(lambda: sum(map(len, gathering.after_commit)) == 5), WAIT, what="every event applied")

    first = next(ids for ids in gathering.flushed if later[0].id in ids)
    assert first == [event.id for event in later], "the four in hand together, in one statement at the batch's end"
    assert [await world.effects(event) for event in later] == [1, 1, 1, 1]
    assert gathering.pending == {}


async def test_an_idempotent_handler_takes_the_batch_in_one_call_without_an_inbox(world: World) -> None:
    release, later = asyncio.Event(), [world.event(n=n) for n in range(3)]
    batches: list[list[UUID]] = []

    async def invalidate(events: Sequence[Event], _: WalPosition | None) -> None:
        batches.append([event.id for event in events])
        world.calls.extend(event.id for event in events)
        if any(event.payload.get("first") for event in events):
            await release.wait()

    consumer = world.consumer(IdempotentHandler(frozenset({EVENT_TYPE}), invalidate), workers=1)
    async with consuming(consumer):
        await _held_first(world, release, later)
        await wait_for(_holds(lambda: len(batches) == 2), WAIT, what="the second batch")
        await wait_for(
            _equals(lambda: world.queue_depth(queue_name(world.namespace, CONSUMER)), 0), WAIT, what="all acked"
        )

    assert batches[1] == [event.id for event in later]
    assert await world.count("SELECT count(*) FROM inbox") == 0


async def test_a_slow_batch_holds_up_neither_the_others_nor_its_own_redelivery(world: World) -> None:
    first, later = world.event(first=True), [world.event(n=n) for n in range(3)]
    doomed = await aio_pika.connect(world.stack.amqp_url)  # plain: it stays dead once closed
    entered, record = asyncio.Event(), world.recorder()

    async def hold_the_first(connection: asyncpg.Connection, event: Event) -> None:
        await record(connection, event)
        if event.payload.get("first"):
            entered.set()
            await asyncio.Event().wait()  # until the process dies

    consumer = EventConsumer(doomed, world.pool, CONSUMER, world.namespace, {EVENT_TYPE: hold_the_first},
                             retry_delays=DELAYS, workers=4)
    await consumer.start()
    await world.publisher.publish(first)
    await asyncio.wait_for(entered.wait(), WAIT)
    for event in later:
        await world.publisher.publish(event)
    await wait_for(lambda: _all_applied(world, later), WAIT, what="the later events applied beside the slow one")
    await doomed.close()  # the process dies holding the first event: its later neighbours' acks must not cover it
    await consumer.stop(timeout=0.1)

    async with consuming(world.consumer({EVENT_TYPE: world.recorder()})):
        await wait_for(lambda: world.effects(first), WAIT, what="the first event, redelivered and applied")

    for event in later:
        assert await world.effects(event) == 1
    assert await world.effects(first) == 1


async def _all_applied(world: World, events: list[Event]) -> bool:
    return all([await world.effects(event) == 1 for event in events])


async def test_relayed_events_carry_a_wal_position_past_their_commit(world: World) -> None:
    relayed, direct = world.event(), world.event()
    await world.commit(relayed)
    committed = await world.pool.fetchval("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
    system = await world.pool.fetchval("SELECT system_identifier FROM pg_control_system()")
    seen: list[tuple[list[UUID], WalPosition | None]] = []

    async def record(events: Sequence[Event], position: WalPosition | None) -> None:
        seen.append(([event.id for event in events], position))

    async with consuming(world.consumer(IdempotentHandler(frozenset({EVENT_TYPE}), record))):
        async with relaying(world.relay()):
            await wait_for(_holds(lambda: len(seen) == 1), WAIT, what="the relayed event")
        await world.publisher.publish(direct)  # not through an outbox: no position is known
        await wait_for(_holds(lambda: len(seen) == 2), WAIT, what="the event published directly")

    [(first, position), (second, unknown)] = seen
    assert first == [relayed.id]
    assert position is not None
    assert position.system == system
    assert position.lsn >= committed
    assert (second, unknown) == ([direct.id], None)


# queue types: classic (the consumer bounds poison messages) and quorum (the broker does)


async def test_a_message_that_crashes_its_consumer_every_time_ends_in_the_dead_letter_queue(world: World) -> None:
    event, limit = world.event(), 2
    crashes: list[UUID] = []
    connections: list[aio_pika.abc.AbstractConnection] = []
    dying: list[asyncio.Task[None]] = []

    async def crash(connection: asyncpg.Connection, delivered: Event) -> None:
        crashes.append(delivered.id)
        dying.append(asyncio.create_task(connections[-1].close()))  # the process dies holding the message
        await asyncio.Event().wait()

    await world.publisher.publish(event)
    for attempt in range(1, limit + 2):
        connections.append(await aio_pika.connect(world.stack.amqp_url))  # plain: it stays dead once closed
        doomed = EventConsumer(connections[-1], world.pool, CONSUMER, world.namespace, {EVENT_TYPE: crash},
                               retry_delays=DELAYS, delivery_limit=limit)
        await doomed.start()
        await wait_for(_holds(lambda attempt=attempt: len(crashes) == attempt), WAIT, what=f"crash {attempt}")
        await dying[-1]
        await doomed.stop(timeout=0.1)  # its handler never returns: the process is gone

    healthy = EventConsumer(world.amqp, world.pool, CONSUMER, world.namespace, {EVENT_TYPE: world.recorder()},
                            retry_delays=DELAYS, delivery_limit=limit)
    async with consuming(healthy):
        [dead] = await world.dead_letters(1)

    assert dead.message_id == str(event.id)
    assert dead.headers[DEAD_LETTER_REASON_HEADER] == "delivery_limit"
    assert crashes == [event.id] * (limit + 1)
    assert world.calls == []  # the healthy consumer never ran it
    assert await world.count("SELECT count(*) FROM effects") + await world.count("SELECT count(*) FROM inbox") == 0


async def test_on_quorum_queues_events_are_applied_retried_and_dead_lettered_alike(world: World) -> None:
    namespace = world.namespace + "quorum."
    async with world.amqp.channel() as channel:
        await declare_topology(channel, namespace, DELAYS, {CONSUMER: SUBSCRIPTIONS[CONSUMER]}, queue_type="quorum")
    good, doomed = world.event(kind="good"), world.event(kind="doomed")
    record = world.recorder()

    async def handle(connection: asyncpg.Connection, event: Event) -> None:
        await record(connection, event)
        if event.payload["kind"] == "doomed":
            raise RuntimeError("fails every time, on purpose")

    publisher = EventPublisher(world.amqp, namespace, timeout=5.0)
    consumer = EventConsumer(world.amqp, world.pool, CONSUMER, namespace, {EVENT_TYPE: handle},
                             retry_delays=DELAYS, queue_type="quorum")
    try:
        async with consuming(consumer):
            await publisher.publish(good)
            await publisher.publish(doomed)
            async with world.amqp.channel() as channel:
                queue = await channel.declare_queue(dead_letter_queue_name(namespace, CONSUMER), passive=True)
                dead = await wait_for(lambda: queue.get(no_ack=True, fail=False), WAIT, what="the dead letter")
    finally:
        await publisher.close()

    assert dead.message_id == str(doomed.id)
    assert dead.headers[DEAD_LETTER_REASON_HEADER] == "exhausted"
    assert await world.effects(good) == 1
    assert world.calls.count(doomed.id) == len(DELAYS) + 1


async def test_a_queue_of_another_type_stops_start_up_with_the_fix(world: World) -> None:
    namespace = world.namespace + "switched."
    async with world.amqp.channel() as channel:
        await declare_topology(channel, namespace, DELAYS, {CONSUMER: SUBSCRIPTIONS[CONSUMER]}, queue_type="quorum")
    with pytest.raises(TopologyMismatch, match="SMARTSLOT_AMQP_QUEUE_TYPE"):
        async with world.amqp.channel() as channel:
            await declare_topology(channel, namespace, DELAYS, {CONSUMER: SUBSCRIPTIONS[CONSUMER]})


# after-commit actions and shutdown


async def test_after_commit_runs_once_committed_and_its_failure_is_not_retried(world: World) -> None:
    good, bad = world.event(kind="good"), world.event(kind="bad")
    seen_committed: list[int] = []
    retried = consumed("retried")

    async def handler(connection: asyncpg.Connection, event: Event) -> AfterCommit:
        await world.recorder()(connection, event)

        async def after_commit() -> None:
            seen_committed.append(await world.effects(event))  # read on another connection
            if event.payload["kind"] == "bad":
                raise RuntimeError("mail server down, on purpose")

        return after_commit

    async with consuming(world.consumer({EVENT_TYPE: handler})):
        await world.publisher.publish(good)
        await world.publisher.publish(bad)
        await wait_for(_holds(lambda: len(seen_committed) == 2), WAIT, what="both after-commit actions")
        await wait_for(
            _equals(lambda: world.queue_depth(queue_name(world.namespace, CONSUMER)), 0), WAIT, what="both acked"
        )

    assert seen_committed == [1, 1]
    assert sorted(world.calls) == sorted([good.id, bad.id])  # batches are applied side by side: in either order
    assert consumed("retried") == retried
    assert await world.queue_depth(dead_letter_queue_name(world.namespace, CONSUMER)) == 0


async def test_stop_waits_for_the_event_in_hand(world: World) -> None:
    event, entered, release = world.event(), asyncio.Event(), asyncio.Event()
    record = world.recorder()

    async def slow(connection: asyncpg.Connection, delivered: Event) -> None:
        entered.set()
        await release.wait()
        await record(connection, delivered)

    consumer = world.consumer({EVENT_TYPE: slow})
    await consumer.start()
    await world.publisher.publish(event)
    await asyncio.wait_for(entered.wait(), WAIT)
    stopping = asyncio.create_task(consumer.stop(timeout=WAIT))
    # A negative check needs a window: without waiting, stop() would close the channel in a few milliseconds.
    finished, _ = await asyncio.wait({stopping}, timeout=0.3)
    assert not finished

    release.set()
    await asyncio.wait_for(stopping, WAIT)

    assert await world.effects(event) == 1
    # Acked before the channel closed; had stop() not waited, the broker would have requeued it.
    assert await world.queue_depth(queue_name(world.namespace, CONSUMER)) == 0


# the aiohttp glue


async def test_cleanup_contexts_carry_an_event_from_outbox_to_handler(world: World) -> None:
    pool_key = web.AppKey("pool", asyncpg.Pool)
    amqp_key = web.AppKey("amqp", AbstractRobustConnection)
    namespace = world.namespace + "app."
    app = web.Application()
    app.cleanup_ctx.extend(
        [
            pool_context(pool_key, world.stack.database_url, world.schema, min_size=1, max_size=4),
            amqp_context(amqp_key, world.stack.amqp_url, namespace, retry_delays=DELAYS),
            relay_context(pool_key, amqp_key, world.schema, namespace, poll_interval=0.1),
            consumer_context(
                pool_key, amqp_key, CONSUMER, namespace, {EVENT_TYPE: world.recorder()}, retry_delays=DELAYS
            ),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await amqp_readiness(amqp_key).probe(app)
        event = world.event()
        await world.commit(event)
        await wait_for(lambda: world.effects(event), WAIT, what="the event through the app's relay and consumer")
    finally:
        await runner.cleanup()

    assert world.calls == [event.id]
    with pytest.raises(ConnectionError):
        await amqp_readiness(amqp_key).probe(app)


class TcpProxy:
    """Forwards a local port to the broker; `cut()` drops every connection and refuses new ones until `restore()`."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._server: asyncio.Server | None = None
        self._port = 0
        self._links: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        target = self._target
        netloc = f"{target.username}:{target.password}@127.0.0.1:{self._port}"
        return urlunsplit((target.scheme, netloc, target.path, target.query, ""))

    async def __aenter__(self) -> TcpProxy:
        await self.restore()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.cut()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for link in list(self._links):
            link.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    async def _link(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        try:
            broker_reader, broker_writer = await asyncio.open_connection(self._target.hostname, self._target.port)
            try:
                await asyncio.gather(_pipe(client_reader, broker_writer), _pipe(broker_reader, client_writer))
            finally:
                broker_writer.transport.abort()
        finally:
            client_writer.transport.abort()
            self._links.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()
    writer.transport.abort()


async def _terminate_listeners(world: World) -> set[int]:
    """Kill the server side of the relay's LISTEN connection, as a failover would; return the pids killed."""
    rows = await world.pool.fetch(
        "SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity"
        " WHERE application_name = $1 AND query ILIKE 'LISTEN%'",
        f"smartslot-{world.schema}",
    )
    return {row["pid"] for row in rows}


async def _relay_listening(world: World, killed: set[int]) -> bool:
    """Whether a connection other than the killed ones is listening for the world's outbox."""
    return bool(
        await world.pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = $1 AND query ILIKE 'LISTEN%' AND NOT (pid = ANY($2::int[]))",
            f"smartslot-{world.schema}",
            list(killed),
        )
    )
