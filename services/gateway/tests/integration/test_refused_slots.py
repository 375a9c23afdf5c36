"""Storm losers answered at the gateway: once booking refuses a claim of a slot and says every claim of it gets that
answer for a moment, the gateway gives that answer itself until the moment is over; claims of the slot meanwhile
wait for the one at booking instead of all reaching it. What booking would decide differently (an Idempotency-Key, a
body with more in it, another slot) still goes to booking, and the client never sees the header."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY

from smartslot_common.http.problems import PROBLEM_CONTENT_TYPE, REFUSAL_SECONDS_HEADER
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration
WINDOW_SECONDS = 0.3


@dataclass
class Booking:
    """Stands in for booking: every slot is full; each claim it sees is counted and refused as every claim of the
    slot would be for `WINDOW_SECONDS`, slowly enough that a storm's claims arrive while the first is in flight."""

    url: str = ""
    claims: list[dict[str, Any]] = field(default_factory=list)
    answer_after: asyncio.Event = field(default_factory=asyncio.Event)

    async def claim(self, request: web.Request) -> web.Response:
        self.claims.append({"path": request.path, "body": await request.json(),
                            "idempotency_key": request.headers.get("Idempotency-Key")})
        await self.answer_after.wait()
        problem = {"type": "https://smartslot.dev/problems/slot_unavailable", "title": "Conflict", "status": 409,
                   "detail": "No seat left.", "code": "slot_unavailable", "trace_id": "booking-trace",
                   "suggestions": [{"slot_id": str(uuid.UUID(int=1)), "remaining": 1}]}
        return web.json_response(problem, status=409, content_type=PROBLEM_CONTENT_TYPE,
                                 headers={REFUSAL_SECONDS_HEADER: str(WINDOW_SECONDS)})


@pytest.fixture
async def booking() -> AsyncIterator[Booking]:
    stand_in = Booking()
    app = web.Application()
    app.router.add_post("/v1/holds", stand_in.claim)
    app.router.add_post("/v1/appointments", stand_in.claim)
    server = TestServer(app)
    await server.start_server()
    stand_in.url = str(server.make_url("")).rstrip("/")
    try:
        yield stand_in
    finally:
        stand_in.answer_after.set()
        await server.close()


def refused_here() -> float:
    return REGISTRY.get_sample_value("smartslot_gateway_claims_refused_here_total") or 0.0


async def claims_at_booking(booking: Booking, count: int) -> None:
    async def arrived() -> bool:
        return len(booking.claims) >= count

    await wait_for(arrived, 5, what=f"{count} claims at booking")


async def refused_once(extra_gateway: Any, booking: Booking) -> tuple[Any, str, str]:
    """A gateway, a client's token and a slot booking has just refused (through that gateway) once."""
    booking.answer_after.set()
    gateway = await extra_gateway(booking_url=booking.url)
    _, token = await gateway.new_client()
    slot = str(uuid.uuid4())
    assert (await gateway.call("POST", "/v1/holds", token, json={"slot_id": slot})).status == 409
    assert len(booking.claims) == 1
    return gateway, token, slot


async def test_a_storms_losers_get_bookings_refusal_from_the_gateway(extra_gateway: Any, booking: Booking) -> None:
    gateway = await extra_gateway(booking_url=booking.url)
    _, token = await gateway.new_client()
    slot = str(uuid.uuid4())
    before = refused_here()

    first = asyncio.create_task(gateway.call("POST", "/v1/appointments", token, json={"slot_id": slot}))
    await claims_at_booking(booking, 1)
    storm = [asyncio.create_task(gateway.call("POST", path, token, json={"slot_id": slot}))
             for path in ("/v1/appointments", "/v1/holds") * 15]
    booking.answer_after.set()
    answers = [await first, *await asyncio.gather(*storm)]

    assert len(booking.claims) == 1, "the others waited for its answer, then got it from the gateway"
    assert refused_here() - before == 30
    assert {(answer.status, answer.code, answer.body["detail"]) for answer in answers} == {
        (409, "slot_unavailable", "No seat left.")}
    assert all(answer.body["suggestions"] == answers[0].body["suggestions"] for answer in answers)
    assert all(answer.headers["Content-Type"].startswith(PROBLEM_CONTENT_TYPE) for answer in answers)
    assert all(REFUSAL_SECONDS_HEADER not in answer.headers for answer in answers), "never relayed"
    assert all(answer.body["trace_id"] != "booking-trace" for answer in answers[1:]), "each with its own trace"


async def test_what_booking_would_decide_differently_still_goes_to_booking(
        extra_gateway: Any, booking: Booking) -> None:
    gateway, token, slot = await refused_once(extra_gateway, booking)

    replay = await gateway.call("POST", "/v1/holds", token, json={"slot_id": slot},
                                headers={"Idempotency-Key": "k-1"})  # its stored answer may be a 201
    more = await gateway.call("POST", "/v1/holds", token, json={"slot_id": slot, "extra": 1})  # booking checks it
    other = await gateway.call("POST", "/v1/holds", token, json={"slot_id": str(uuid.uuid4())})
    assert [answer.status for answer in (replay, more, other)] == [409, 409, 409]
    assert [claim["idempotency_key"] for claim in booking.claims] == [None, "k-1", None, None]

    admin = await gateway.call("POST", "/v1/holds", await gateway.admin_token(), json={"slot_id": slot})
    assert admin.status == 404, "the role check (a client's call) comes before the memory"
    assert len(booking.claims) == 4


async def test_after_the_moment_booking_says_the_next_claim_goes_to_booking_again(
        extra_gateway: Any, booking: Booking) -> None:
    gateway, token, slot = await refused_once(extra_gateway, booking)
    assert (await gateway.call("POST", "/v1/holds", token, json={"slot_id": slot})).status == 409
    assert len(booking.claims) == 1, "the second within the moment: from the gateway"

    async def asked_booking_again() -> bool:
        assert (await gateway.call("POST", "/v1/holds", token, json={"slot_id": slot})).status == 409
        return len(booking.claims) == 2

    await wait_for(asked_booking_again, 5, interval=0.05, what="a claim after the moment reaching booking")


async def test_with_the_memory_switched_off_every_claim_goes_to_booking(
        extra_gateway: Any, booking: Booking) -> None:
    booking.answer_after.set()
    gateway = await extra_gateway(booking_url=booking.url, refused_slots_seconds=0)
    _, token = await gateway.new_client()
    slot = str(uuid.uuid4())
    for _ in range(3):
        assert (await gateway.call("POST", "/v1/holds", token, json={"slot_id": slot})).status == 409
    assert len(booking.claims) == 3
