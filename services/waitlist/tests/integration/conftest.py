"""Waitlist against the real PostgreSQL, Redis and RabbitMQ of this run (`stack`), with a real booking service.

Booking and the waitlist are served in-process by aiohttp's TestServer (the kill -9 test runs them as processes),
and called with the identity headers the gateway would send. Every test makes its own catalog and clients.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.app import create_app as create_booking
from booking.settings import BookingSettings
from smartslot_common.testing import IsolatedStack, wait_for
from smartslot_common.testing.identity import signing_middleware
from smartslot_common.testing.service_api import Catalog, ServiceApi, Who, make_catalog, make_slot
from waitlist.adapters.booking import BookingPort
from waitlist.app import create_app as create_waitlist
from waitlist.settings import WaitlistSettings

OFFER_TTL_SECONDS = 2
SWEEP_SECONDS = 0.2
BUFFER_SECONDS = 600


def _servers(stack: IsolatedStack) -> dict[str, Any]:
    return {"database_url": stack.database_url, "redis_url": stack.redis_url, "amqp_url": stack.amqp_url,
            "namespace": stack.namespace, "db_pool_min_size": 1, "db_pool_max_size": 6}


def booking_settings(stack: IsolatedStack, **overrides: Any) -> BookingSettings:
    values = _servers(stack) | {"sweep_interval_seconds": SWEEP_SECONDS, "waitlist_buffer_seconds": BUFFER_SECONDS,
                                "booking_horizon_days": 30}
    return BookingSettings(**(values | overrides))


def waitlist_settings(stack: IsolatedStack, booking_url: str, **overrides: Any) -> WaitlistSettings:
    values = _servers(stack) | {
        "booking_url": booking_url, "offer_ttl_seconds": OFFER_TTL_SECONDS, "sweep_interval_seconds": SWEEP_SECONDS,
        "request_lease_seconds": 3.0, "recheck_seconds": 0.5, "booking_timeout_seconds": 2.0,
        "busy_retry_delay_seconds": 0.05,
    }
    return WaitlistSettings(**(values | overrides))


def client(label: str = "client") -> Who:
    user_id = uuid.uuid4()
    return Who("client", user_id, f"{label}-{user_id.hex[:6]}@example.com", label.title())


ADMIN = Who("admin")
SYSTEM = Who("system")


def future(days: int = 5, minutes: int = 0) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days, minutes=minutes)).replace(second=0, microsecond=0)


async def new_slot(booking: ServiceApi, catalog: Catalog, starts_at: datetime, capacity: int = 1) -> str:
    """A new slot of the catalog's provider; its id."""
    return str((await make_slot(booking, catalog, starts_at, capacity))["id"])


async def book(booking: ServiceApi, slot_id: str) -> dict[str, Any]:
    """Someone books the slot outright (so that a cancellation can free it)."""
    return await booking.created("/v1/appointments", {"slot_id": slot_id}, client("booker"))


async def cancel_as_admin(booking: ServiceApi, appointment_id: str) -> None:
    reply = await booking.call("POST", f"/v1/appointments/{appointment_id}/cancel", ADMIN, {})
    assert reply.status == 200, reply.body


async def join(waitlist: ServiceApi, who: Who, **wish: Any) -> dict[str, Any]:
    reply = await waitlist.call("POST", "/v1/waitlist", who, {key: str(value) for key, value in wish.items()})
    assert reply.status == 201, reply.body
    return reply.body


class Db:
    """Reads of what the services wrote, for checking what they claimed (a pool: tests read concurrently)."""

    def __init__(self, connection: asyncpg.Pool) -> None:
        self.connection = connection

    async def offers(self, slot_id: str) -> list[asyncpg.Record]:
        return await self.connection.fetch(
            "SELECT * FROM waitlist.offers WHERE slot_id = $1::uuid ORDER BY created_at", slot_id
        )

    async def made(self, slot_id: str) -> list[str]:
        """Client ids in the order `waitlist.offer_made` was written for the slot."""
        rows = await self.connection.fetch(
            "SELECT envelope->'payload'->>'client_id' AS client FROM waitlist.outbox "
            "WHERE event_type = 'waitlist.offer_made' AND envelope->'payload'->>'slot_id' = $1 "
            "ORDER BY created_at, seq",
            slot_id,
        )
        return [row["client"] for row in rows]

    async def events(self, kind: str, slot_id: str) -> list[dict]:
        rows = await self.connection.fetch(
            "SELECT envelope->'payload' AS payload FROM waitlist.outbox WHERE event_type = $1 "
            "AND envelope->'payload'->>'slot_id' = $2 ORDER BY created_at, seq", kind, slot_id,
        )
        return [row["payload"] for row in rows]

    async def seats_done(self, slot_id: str) -> bool:
        """Every freed seat of the slot finished its walk (claimed, or handed back and confirmed), no request in
        flight, no offer open."""
        row = await self.connection.fetchrow(
            "SELECT count(*) AS seats, count(*) FILTER (WHERE status = 'done') AS done, "
            "(SELECT count(*) FROM waitlist.offers WHERE slot_id = $1::uuid AND status IN ('requesting', 'pending')) "
            "AS live FROM waitlist.seats WHERE slot_id = $1::uuid", slot_id,
        )
        return row["seats"] > 0 and row["seats"] == row["done"] and row["live"] == 0

    async def slot(self, slot_id: str) -> asyncpg.Record:
        return await self.connection.fetchrow(
            "SELECT capacity, held, booked, reserved_until FROM booking.slots WHERE id = $1::uuid", slot_id
        )

    async def entry_status(self, entry_id: str) -> str:
        return await self.connection.fetchval("SELECT status FROM waitlist.entries WHERE id = $1::uuid", entry_id)

    async def appointment_status(self, appointment_id: uuid.UUID) -> str:
        return await self.connection.fetchval("SELECT status FROM booking.appointments WHERE id = $1", appointment_id)


async def serve(app) -> TestClient:
    http = TestClient(TestServer(app), middlewares=(signing_middleware(),))
    await http.start_server()
    return http


@pytest.fixture(scope="session")
async def booking_http(stack: IsolatedStack) -> AsyncIterator[TestClient]:
    http = await serve(create_booking(booking_settings(stack)))
    try:
        yield http
    finally:
        await http.close()


@pytest.fixture(scope="session")
def booking(booking_http: TestClient) -> ServiceApi:
    return ServiceApi(booking_http)


@pytest.fixture(scope="session")
def booking_url(booking_http: TestClient) -> str:
    return str(booking_http.make_url("")).rstrip("/")


StartWaitlist = Callable[..., Awaitable[ServiceApi]]


@asynccontextmanager
async def _waitlist_apps(stack: IsolatedStack, booking_url: str) -> AsyncIterator[StartWaitlist]:
    """Start waitlist apps (competing consumers on the run's queue) with changed settings; all closed on exit."""
    started: list[TestClient] = []

    async def start(booking_port: BookingPort | None = None, **overrides: Any) -> ServiceApi:
        http = await serve(create_waitlist(waitlist_settings(stack, booking_url, **overrides), booking=booking_port))
        started.append(http)
        return ServiceApi(http)

    try:
        yield start
    finally:
        for http in started:
            await http.close()


@pytest.fixture(scope="module")
async def start_waitlist(stack: IsolatedStack, booking_url: str) -> AsyncIterator[StartWaitlist]:
    """Waitlist apps that live until the end of the module."""
    async with _waitlist_apps(stack, booking_url) as start:
        yield start


@pytest.fixture
async def own_waitlist(stack: IsolatedStack, booking_url: str) -> AsyncIterator[StartWaitlist]:
    """Like `start_waitlist`, but the apps stop when the test ends (so no other consumer outlives it)."""
    async with _waitlist_apps(stack, booking_url) as start:
        yield start


@pytest.fixture(scope="module")
async def waitlist(start_waitlist: StartWaitlist) -> ServiceApi:
    """The module's waitlist, offering for OFFER_TTL_SECONDS."""
    return await start_waitlist()


@pytest.fixture(scope="session")
async def db(stack: IsolatedStack) -> AsyncIterator[Db]:
    async def codecs(connection: asyncpg.Connection) -> None:
        for type_name in ("json", "jsonb"):
            await connection.set_type_codec(type_name, encoder=lambda value: orjson.dumps(value).decode(),
                                            decoder=orjson.loads, schema="pg_catalog")

    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=4, init=codecs)
    try:
        yield Db(pool)
    finally:
        await pool.close()


@pytest.fixture
async def catalog(booking: ServiceApi) -> Catalog:
    return await make_catalog(booking)


async def settled(db: Db, slot_id: str, timeout: float = 20.0) -> None:
    """Wait until every freed seat of the slot finished its walk down the queue."""
    await wait_for(lambda: db.seats_done(slot_id), timeout, what=f"the seats of slot {slot_id} to settle")
