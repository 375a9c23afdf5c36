"""Booking on the real PostgreSQL, Redis and RabbitMQ of this run (`stack`), served in-process by aiohttp's
TestServer and called with the identity headers the gateway would send."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.app import create_app
from booking.settings import BookingSettings
from smartslot_common.http.identity import ROLE_HEADER, USER_ID_HEADER
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.identity import signing_middleware

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


@dataclass(frozen=True)
class Who:
    """A caller as the gateway forwards it."""

    role: str
    user_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def headers(self) -> dict[str, str]:
        return {USER_ID_HEADER: str(self.user_id), ROLE_HEADER: self.role}


def admin() -> Who:
    return Who("admin")


def client() -> Who:
    return Who("client")


def future(days: int = 7, minutes: int = 0) -> datetime:
    """A whole-minute instant some days ahead (each test has its own provider, so instants may repeat)."""
    return (datetime.now(UTC) + timedelta(days=days, minutes=minutes)).replace(second=0, microsecond=0)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    content_type: str

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class BookingApi:
    """Calls booking directly, as the gateway would."""

    def __init__(self, http: TestClient) -> None:
        self.http = http

    async def call(
        self, method: str, path: str, who: Who | None, json: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        headers = (dict(who.headers) if who else {}) | (headers or {})
        data = None
        if json is not None:
            data, headers["Content-Type"] = orjson.dumps(json), "application/json"
        async with self.http.request(method, path, data=data, headers=headers) as response:
            raw = await response.read()
            body = orjson.loads(raw) if raw and "json" in response.content_type else raw.decode()
            return Reply(response.status, body, response.content_type)

    async def created(self, path: str, json: Any, who: Who | None = None) -> dict[str, Any]:
        """POST as an admin (by default) and insist on 201."""
        reply = await self.call("POST", path, who or admin(), json)
        assert reply.status == 201, reply.body
        return reply.body

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

    async def hold(self, slot_id: object, who: Who) -> Reply:
        return await self.call("POST", "/v1/holds", who, {"slot_id": str(slot_id)})


@dataclass(frozen=True)
class Catalog:
    """A clinic, one service and one provider offering it: every test gets its own."""

    clinic_id: str
    service_id: str
    provider_id: str
    provider_user: uuid.UUID
    zone: str
    duration: timedelta


async def make_catalog(api: BookingApi, zone: str = "Europe/Berlin", duration_minutes: int = 30) -> Catalog:
    service = await api.created("/v1/services", {
        "name": "Check-up", "duration_minutes": duration_minutes, "price_cents": 4500, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"},
    })
    clinic = await api.created("/v1/clinics", {"name": "Mitte", "timezone": zone})
    user = uuid.uuid4()
    provider = await api.created("/v1/providers", {
        "user_id": str(user), "clinic_id": clinic["id"], "display_name": "Dr. Weber", "service_ids": [service["id"]],
    })
    return Catalog(clinic["id"], service["id"], provider["id"], user, zone, timedelta(minutes=duration_minutes))


async def make_slot(api: BookingApi, catalog: Catalog, starts_at: datetime, capacity: int = 1) -> dict[str, Any]:
    return await api.created(f"/v1/providers/{catalog.provider_id}/slots", {
        "service_id": catalog.service_id, "starts_at": starts_at.isoformat(), "capacity": capacity,
    })


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
