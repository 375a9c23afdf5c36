"""After a booking's confirmation event is consumed, no availability answer lists that slot again: booking's real
app writes the appointment and its outbox row in one transaction, its relay publishes, availability consumes it;
searches read the real streaming replica."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.app import create_app as create_booking_app
from booking.settings import BookingSettings
from smartslot_common.testing import IsolatedStack, wait_for
from smartslot_common.testing.identity import signing_middleware

from .conftest import applied_events

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def booking(stack: IsolatedStack) -> AsyncIterator[TestClient]:
    settings = BookingSettings(database_url=stack.database_url, redis_url=stack.redis_url, amqp_url=stack.amqp_url,
                               namespace=stack.namespace, db_pool_min_size=1, db_pool_max_size=5)
    http = TestClient(TestServer(create_booking_app(settings)), middlewares=(signing_middleware(),))
    await http.start_server()
    try:
        yield http
    finally:
        await http.close()


async def _created(booking: TestClient, path: str, who: Any, body: dict) -> dict:
    async with booking.post(path, data=orjson.dumps(body), headers=who.headers | {
            "Content-Type": "application/json"}) as response:
        answer = await response.json()
        assert response.status == 201, answer
        return answer


async def test_a_consumed_confirmation_keeps_the_slot_out_of_every_answer(
    stack: IsolatedStack, booking, api, db, events, who, replayed, at
):
    if stack.replica_database_url is None:
        pytest.fail("no streaming replica answers on 127.0.0.1:5433: start one with `make replica`", pytrace=False)
    admin = who("admin")
    service = await _created(booking, "/v1/services", admin, {
        "name": "Check-up", "duration_minutes": 30, "price_cents": 4500, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"}})
    clinic = await _created(booking, "/v1/clinics", admin, {"name": "Mitte", "timezone": "Europe/Berlin"})
    provider = await _created(booking, "/v1/providers", admin, {
        "user_id": str(uuid.uuid4()), "clinic_id": clinic["id"], "display_name": "Dr. Weber",
        "service_ids": [service["id"]]})
    start = at(2)
    slot = await _created(booking, f"/v1/providers/{provider['id']}/slots", admin, {
        "service_id": service["id"], "starts_at": start.isoformat()})
    await replayed()
    window = {"start": start - timedelta(hours=3), "end": start + timedelta(hours=3)}
    questions = [{}, {"provider_id": provider["id"]}, {"clinic_id": clinic["id"]}]
    for extra in questions:  # every scope now has the slot cached
        assert slot["id"] in await api.slot_ids(service["id"], **window, **extra)

    consumed = applied_events("appointment.confirmed")
    appointment = await _created(booking, "/v1/appointments", who("client"), {"slot_id": slot["id"]})
    assert appointment["status"] == "confirmed"
    await wait_for(lambda: _published(db, appointment["id"]), 10, what="the outbox row published")
    await wait_for(lambda: _above(applied_events("appointment.confirmed"), consumed), 10,
                   what="availability to consume appointment.confirmed")

    for _ in range(10):  # at once and again, whatever the replica has replayed by now
        for extra in questions:
            assert slot["id"] not in await api.slot_ids(service["id"], **window, **extra)
    await replayed()
    for extra in questions:
        assert slot["id"] not in await api.slot_ids(service["id"], **window, **extra)


async def _published(db, appointment_id: str) -> bool:
    return bool(await db.fetchval(
        "SELECT published_at IS NOT NULL FROM booking.outbox WHERE event_type = 'appointment.confirmed' "
        "AND envelope->'payload'->>'appointment_id' = $1", appointment_id))


async def _above(value: float, floor: float) -> bool:
    return value > floor
