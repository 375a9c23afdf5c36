"""Read-your-writes across gateway processes: a hold answered through one gateway goes with the caller's searches
through another once that one has heard it, and through a gateway started afterwards (loaded when it subscribes);
other callers' searches carry nothing, and a caller's own copy of the header never reaches availability."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.adapters.own_writes import OwnWrites
from gateway.app_keys import OWN_WRITES
from smartslot_common.http.identity import OWN_SLOTS_HEADER
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration
SEARCH = "/v1/availability?service_id=00000000-0000-4000-8000-000000000001&from=2030-01-01&to=2030-01-02"


@pytest.fixture
async def seats() -> AsyncIterator[str]:
    """Booking and availability in one: a hold is answered with the slot asked for, a search with the own-slots
    header it received (null without one)."""

    async def hold(request: web.Request) -> web.Response:
        asked = await request.json()
        return web.json_response({"id": str(uuid.uuid4()), "status": "locked", "slot_id": asked["slot_id"]},
                                 status=201)

    async def search(request: web.Request) -> web.Response:
        return web.json_response({"slots": [], "own": request.headers.get(OWN_SLOTS_HEADER)})

    app = web.Application()
    app.router.add_post("/v1/holds", hold)
    app.router.add_get("/v1/availability", search)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def own_writes_of(gateway: Any) -> OwnWrites:
    writes: OwnWrites = gateway.http.server.app[OWN_WRITES]
    return writes


async def following(*gateways: Any) -> None:
    async def now() -> bool:
        return all(own_writes_of(gateway).following for gateway in gateways)

    await wait_for(now, 10, what="the gateways following their callers' writes")


async def own_slots_sent(gateway: Any, token: str, headers: dict[str, str] | None = None) -> str | None:
    answer = await gateway.call("GET", SEARCH, token, headers=headers)
    assert answer.status == 200, answer.body
    own: str | None = answer.body["own"]
    return own


async def test_a_hold_through_one_gateway_goes_with_the_callers_searches_through_every_gateway(
        extra_gateway: Any, seats: str) -> None:
    first = await extra_gateway(booking_url=seats, availability_url=seats, own_writes_shared=True)
    second = await extra_gateway(booking_url=seats, availability_url=seats, own_writes_shared=True)
    await following(first, second)
    user, token = await first.new_client()
    _, someone_else = await first.new_client()
    slot = str(uuid.uuid4())
    assert await own_slots_sent(second, token) is None

    hold = await first.call("POST", "/v1/holds", token, json={"slot_id": slot})
    assert hold.status == 201, hold.body

    assert await own_slots_sent(first, token) == slot

    async def heard() -> bool:
        return own_writes_of(second).slots_of(uuid.UUID(user["id"])) == slot

    await wait_for(heard, 10, what="the other gateway hearing the hold")
    assert await own_slots_sent(second, token) == slot
    assert await own_slots_sent(second, someone_else) is None
    assert await own_slots_sent(second, someone_else, {OWN_SLOTS_HEADER: slot}) is None  # a forged copy is dropped

    later = await extra_gateway(booking_url=seats, availability_url=seats, own_writes_shared=True)
    await following(later)
    assert await own_slots_sent(later, token) == slot  # loaded from Redis when it subscribed


async def test_a_gateway_alone_keeps_its_callers_writes_in_memory_and_writes_nothing_to_redis(
        extra_gateway: Any, seats: str) -> None:
    alone = await extra_gateway(booking_url=seats, availability_url=seats)  # own_writes_shared off, the default
    user, token = await alone.new_client()
    slot = str(uuid.uuid4())

    hold = await alone.call("POST", "/v1/holds", token, json={"slot_id": slot})
    assert hold.status == 201, hold.body

    assert await own_slots_sent(alone, token) == slot
    writes = own_writes_of(alone)
    assert not writes.following
    stored = [key async for key in writes.redis.scan_iter(match=f"{writes.prefix}:{user['id']}:*")]
    assert stored == []
