"""Booking on the real PostgreSQL, Redis and RabbitMQ of this run (`stack`), served in-process by aiohttp's
TestServer and called with the identity headers the gateway would send."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.app import create_app
from booking.settings import BookingSettings
from smartslot_common.api_client import Answer
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.identity import signing_middleware
from smartslot_common.testing.service_api import Catalog, ServiceApi, Who, make_catalog, make_slot

HOLD_TTL_SECONDS = 300
MAX_LIVE_HOLDS = 3
HORIZON_DAYS = 366  # a whole year, so that both of next year's DST changes are inside it


def settings_for(stack: IsolatedStack, **overrides: Any) -> BookingSettings:
    values: dict[str, Any] = {
        "database_url": stack.database_url, "redis_url": stack.redis_url, "amqp_url": stack.amqp_url,
        "namespace": stack.namespace, "hold_ttl_seconds": HOLD_TTL_SECONDS, "max_live_holds": MAX_LIVE_HOLDS,
        "booking_horizon_days": HORIZON_DAYS, "db_pool_min_size": 1, "db_pool_max_size": 20,
    }
    return BookingSettings(**(values | overrides))


def admin() -> Who:
    return Who("admin")


def client() -> Who:
    return Who("client")


def future(days: int = 7, minutes: int = 0) -> datetime:
    """A whole-minute instant some days ahead (each test has its own provider, so instants may repeat)."""
    return (datetime.now(UTC) + timedelta(days=days, minutes=minutes)).replace(second=0, microsecond=0)


class BookingApi(ServiceApi):
    """Calls booking directly, as the gateway would."""

    # The helpers below are here so that test modules need no imports from this conftest.
    admin = staticmethod(admin)
    client = staticmethod(client)
    future = staticmethod(future)

    @staticmethod
    def who(role: str, user_id: uuid.UUID | None = None) -> Who:
        return Who(role, user_id or uuid.uuid4())

    async def catalog(self, zone: str = "Europe/Berlin", duration_minutes: int = 30) -> Catalog:
        return await make_catalog(self, zone, duration_minutes)

    async def slot(self, catalog: Catalog, starts_at: datetime, capacity: int = 1) -> dict[str, Any]:
        return await make_slot(self, catalog, starts_at, capacity)

    async def hold(self, slot_id: object, who: Who) -> Answer:
        return await self.call("POST", "/v1/holds", who, {"slot_id": str(slot_id)})


async def serve(settings: BookingSettings) -> TestClient:
    """A started booking app for these settings; the caller closes it."""
    http = TestClient(TestServer(create_app(settings)), middlewares=(signing_middleware(),))
    await http.start_server()
    return http


@pytest.fixture(scope="session")
async def booking_http(stack: IsolatedStack) -> AsyncIterator[TestClient]:
    http = await serve(settings_for(stack))
    try:
        yield http
    finally:
        await http.close()


@pytest.fixture(scope="session")
def api(booking_http: TestClient) -> BookingApi:
    return BookingApi(booking_http)


@pytest.fixture(scope="session")
async def db(stack: IsolatedStack) -> AsyncIterator[asyncpg.Connection]:
    """A connection of our own to the run's database, for checking what the API claimed."""
    connection = await asyncpg.connect(stack.database_url, server_settings={"search_path": "booking"})
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def catalog(api: BookingApi) -> Catalog:
    return await make_catalog(api)


@pytest.fixture
async def extra_booking(stack: IsolatedStack) -> AsyncIterator[Any]:
    """Start more booking apps on this run's servers with changed settings; all closed after the test."""
    started: list[TestClient] = []

    async def start(**overrides: Any) -> BookingApi:
        http = await serve(settings_for(stack, **overrides))
        started.append(http)
        return BookingApi(http)

    try:
        yield start
    finally:
        for http in started:
            await http.close()
