"""Availability on the real PostgreSQL (primary and, when it is up, the streaming replica), Redis and RabbitMQ of
this run (`stack`), served in-process by aiohttp's TestServer and called with the identity headers the gateway
would send. Booking's tables are written directly (they are availability's read-only contract) and events are
published as booking's relay would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from availability.app import create_app
from availability.app_keys import CACHE, POOL, READ_POOL
from availability.settings import AvailabilitySettings
from smartslot_common.api_client import Answer
from smartslot_common.messaging import Event, EventPublisher, declare_topology
from smartslot_common.testing import IsolatedStack, wait_for
from smartslot_common.testing.identity import signing_middleware
from smartslot_common.testing.service_api import ServiceApi, Who


def settings_for(stack: IsolatedStack, **overrides: Any) -> AvailabilitySettings:
    values: dict[str, Any] = {
        "database_url": stack.database_url, "replica_database_url": stack.replica_database_url,
        "redis_url": stack.redis_url, "amqp_url": stack.amqp_url, "namespace": stack.namespace,
        "db_pool_min_size": 1, "db_pool_max_size": 10,
    }
    return AvailabilitySettings(**(values | overrides))


def future(days: float = 3) -> datetime:
    """A whole-hour instant some days ahead."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def counter(name: str, **labels: str) -> float:
    """The current value of a Prometheus sample of this process."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class AvailabilityApi(ServiceApi):
    """Calls availability as the gateway would."""

    @property
    def app(self) -> web.Application:
        return self.http.server.app

    async def get(self, path: str, who: Who | None = None, **params: Any) -> Answer:
        """GET as `who` (a client by default), the query from `params` (`from_` for `from`)."""
        query = {key.rstrip("_"): _text(value) for key, value in params.items() if value is not None}
        return await self.call("GET", path, who or Who("client"), params=query)

    async def slot_ids(self, service_id: uuid.UUID, start: datetime, end: datetime, **extra: Any) -> list[str]:
        """The ids `GET /v1/availability` lists (insisting on 200)."""
        reply = await self.get("/v1/availability", service_id=service_id, from_=start, to=end, **extra)
        assert reply.status == 200, reply.body
        return [item["slot_id"] for item in reply.body["slots"]]


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


@dataclass(frozen=True)
class CatalogRows:
    """A catalog written straight into booking's tables (not through its API, so not a `service_api.Catalog`): ids as
    UUIDs for the SQL, any number of providers."""

    service_id: uuid.UUID
    clinic_id: uuid.UUID
    provider_ids: list[uuid.UUID]
    provider_users: list[uuid.UUID]

    @property
    def provider_id(self) -> uuid.UUID:
        return self.provider_ids[0]


class BookingRows:
    """Writes booking's tables directly on the primary, as booking would have."""

    def __init__(self, db: asyncpg.Connection) -> None:
        self.db = db

    async def catalog(self, zone: str = "UTC", providers: int = 1, minutes: int = 30) -> CatalogRows:
        service, clinic = uuid.uuid4(), uuid.uuid4()
        await self.db.execute(
            "INSERT INTO booking.services (id, name, duration_minutes, price_cents, currency, cancellation_policy) "
            "VALUES ($1, 'Check-up', $2, 4500, 'EUR', '{\"kind\": \"flexible\"}'::jsonb)", service, minutes)
        await self.db.execute("INSERT INTO booking.clinics (id, name, timezone) VALUES ($1, 'Mitte', $2)",
                              clinic, zone)
        ids, users = [], []
        for number in range(providers):
            provider = await self.provider(clinic, service, zone, f"Dr. {number}")
            ids.append(provider[0])
            users.append(provider[1])
        return CatalogRows(service, clinic, ids, users)

    async def provider(
        self, clinic: uuid.UUID, service: uuid.UUID, zone: str, name: str = "Dr. Weber"
    ) -> tuple[uuid.UUID, uuid.UUID]:
        provider, user = uuid.uuid4(), uuid.uuid4()
        await self.db.execute(
            "INSERT INTO booking.providers (id, user_id, clinic_id, display_name, timezone) "
            "VALUES ($1, $2, $3, $4, $5)", provider, user, clinic, name, zone)
        await self.db.execute("INSERT INTO booking.provider_services VALUES ($1, $2)", provider, service)
        return provider, user

    async def clinic(self, zone: str = "UTC") -> uuid.UUID:
        clinic = uuid.uuid4()
        await self.db.execute("INSERT INTO booking.clinics (id, name, timezone) VALUES ($1, 'Nord', $2)", clinic, zone)
        return clinic

    async def slot(
        self, provider_id: uuid.UUID, service_id: uuid.UUID, starts_at: datetime, minutes: int = 30, **columns: Any
    ) -> uuid.UUID:
        values = {"id": uuid.uuid4(), "provider_id": provider_id, "service_id": service_id, "starts_at": starts_at,
                  "ends_at": starts_at + timedelta(minutes=minutes)} | columns
        names = ", ".join(values)
        marks = ", ".join(f"${n}" for n in range(1, len(values) + 1))
        await self.db.execute(f"INSERT INTO booking.slots ({names}) VALUES ({marks})", *values.values())
        return values["id"]

    async def appointment(
        self, slot_id: uuid.UUID, status: str, path: tuple[tuple[str | None, str, str | None], ...] = (),
        **columns: Any,
    ) -> uuid.UUID:
        """An appointment on a slot, with its audit trail `path` of (from, to, reason) transitions."""
        slot = await self.db.fetchrow("SELECT * FROM booking.slots WHERE id = $1", slot_id)
        values = {"id": uuid.uuid4(), "slot_id": slot_id, "provider_id": slot["provider_id"],
                  "service_id": slot["service_id"], "client_id": uuid.uuid4(), "status": status,
                  "starts_at": slot["starts_at"], "ends_at": slot["ends_at"], "currency": "EUR",
                  "hold_expires_at": slot["starts_at"] if status == "locked" else None} | columns
        names = ", ".join(values)
        marks = ", ".join(f"${n}" for n in range(1, len(values) + 1))
        await self.db.execute(f"INSERT INTO booking.appointments ({names}) VALUES ({marks})", *values.values())
        for before, after, reason in path or ((None, "locked", None),):
            await self.db.execute(
                "INSERT INTO booking.appointment_transitions (appointment_id, from_status, to_status, reason) "
                "VALUES ($1, $2, $3, $4)", values["id"], before, after, reason)
        return values["id"]

    async def take_seat(self, slot_id: uuid.UUID) -> dict[str, Any]:
        """A confirmed booking of one seat (as booking's transaction would leave it); the event payload."""
        slot = await self.db.fetchrow(
            "UPDATE booking.slots SET booked = booked + 1, version = version + 1 WHERE id = $1 RETURNING *", slot_id)
        appointment = await self.appointment(slot_id, "confirmed", ((None, "locked", None),
                                                                    ("locked", "confirmed", None)))
        return {"appointment_id": str(appointment), "status": "confirmed", "slot_id": str(slot_id),
                "provider_id": str(slot["provider_id"]), "service_id": str(slot["service_id"]),
                "client_id": str(uuid.uuid4()), "starts_at": slot["starts_at"].isoformat(),
                "ends_at": slot["ends_at"].isoformat()}


class Events:
    """Publishes events as booking's relay would and waits for availability to have applied them."""

    def __init__(self, publisher: EventPublisher, db: asyncpg.Connection) -> None:
        self.publisher = publisher
        self.db = db

    async def publish(self, event_type: str, payload: dict[str, Any]) -> Event:
        event = Event.create(event_type, payload, "booking")
        await self.publisher.publish(event)
        return event

    async def deliver(self, event_type: str, payload: dict[str, Any], timeout: float = 10.0) -> Event:
        """Publish and wait until applied: its pages dropped and fenced, the message acknowledged."""
        before = applied_events(event_type)
        event = await self.publish(event_type, payload)
        await wait_for(lambda: _true(applied_events(event_type) > before), timeout,
                       what=f"availability to apply {event.type}")
        return event


def applied_events(event_type: str) -> float:
    """How many `event_type` events this process's availability has applied (invalidations need no inbox: they are
    idempotent, so the consumer's count is what says one was applied)."""
    return counter("smartslot_events_consumed_total", consumer="availability", event_type=event_type,
                   outcome="applied")


async def _true(value: bool) -> bool:
    return value


async def replica_caught_up(stack: IsolatedStack) -> None:
    """Wait until the replica has replayed everything the primary has written so far (a no-op without a replica)."""
    if not stack.replica_database_url:
        return
    primary = await asyncpg.connect(stack.database_url)
    try:
        target = await primary.fetchval("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
    finally:
        await primary.close()

    async def replayed() -> bool:
        try:
            replica = await asyncpg.connect(stack.replica_database_url, timeout=2)
        except (OSError, asyncpg.PostgresError):
            return False
        try:
            return await replica.fetchval("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn") >= target
        finally:
            await replica.close()

    await wait_for(replayed, 30, interval=0.1, what="the replica to replay this run's database")


@pytest.fixture(scope="session")
async def availability_http(stack: IsolatedStack) -> AsyncIterator[TestClient]:
    await replica_caught_up(stack)  # this run's database and migrations arrive on the replica by streaming
    http = TestClient(TestServer(create_app(settings_for(stack))), middlewares=(signing_middleware(),))
    await http.start_server()
    try:
        yield http
    finally:
        await http.close()


@pytest.fixture(scope="session")
def api(availability_http: TestClient) -> AvailabilityApi:
    return AvailabilityApi(availability_http)


@pytest.fixture(scope="session")
def app(api: AvailabilityApi) -> web.Application:
    return api.app


@pytest.fixture(scope="session")
def cache(app: web.Application) -> Any:
    return app[CACHE]


@pytest.fixture(scope="session")
def has_replica(app: web.Application) -> bool:
    return app[READ_POOL] is not app[POOL]


@pytest.fixture(scope="session")
async def db(stack: IsolatedStack) -> AsyncIterator[asyncpg.Connection]:
    """A connection of our own to the run's primary database."""
    connection = await asyncpg.connect(stack.database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def rows(db: asyncpg.Connection) -> BookingRows:
    return BookingRows(db)


@pytest.fixture(scope="session")
async def events(stack: IsolatedStack, db: asyncpg.Connection, api: AvailabilityApi) -> AsyncIterator[Events]:
    connection = await aio_pika.connect_robust(stack.amqp_url)
    try:
        async with connection.channel() as channel:
            await declare_topology(channel, stack.namespace)
        publisher = EventPublisher(connection, stack.namespace)
        yield Events(publisher, db)
        await publisher.close()
    finally:
        await connection.close()


@pytest.fixture
def replayed(stack: IsolatedStack) -> Any:
    """Wait until the replica has caught up with the primary."""
    return lambda: replica_caught_up(stack)


@pytest.fixture
def who() -> type[Who]:
    return Who


@pytest.fixture
def at() -> Any:
    return future


@pytest.fixture
def metric() -> Any:
    return counter


@pytest.fixture
async def extra_availability(stack: IsolatedStack) -> AsyncIterator[Any]:
    """Start more availability apps on this run's servers with changed settings; all closed after the test."""
    started: list[TestClient] = []

    async def start(**overrides: Any) -> AvailabilityApi:
        http = TestClient(TestServer(create_app(settings_for(stack, **overrides))), middlewares=(signing_middleware(),))
        await http.start_server()
        started.append(http)
        return AvailabilityApi(http)

    try:
        yield start
    finally:
        for http in started:
            await http.close()
