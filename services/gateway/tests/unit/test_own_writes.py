"""Read-your-writes in the gateway, on a fake clock and a fake upstream: the slots a caller held or booked are
remembered for the window (a few per caller, a bounded number of callers), reach availability with the caller's
searches, and a caller's own copy of that header never does."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.adapters.own_writes import SLOTS_PER_CALLER, OwnWrites, slot_named
from gateway.adapters.tokens import TokenIssuer
from gateway.adapters.upstreams import UpstreamAnswer
from gateway.app_keys import OWN_WRITES, TOKENS, UPSTREAMS
from gateway.entrypoints.proxy import OWN_WRITE_ROUTES, SEARCH_ROUTES, _handler
from gateway.routing import ROUTES, Route
from smartslot_common.http.identity import IDENTITY_KEY, OWN_SLOTS_HEADER, IdentityKey
from smartslot_common.http.middleware import REQUEST_ID

WINDOW = 120.0
SECRET = "unit-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
TOKENS_UNDER_TEST = TokenIssuer(SECRET, SECRET, "HS256", "smartslot", "smartslot-api", 900)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def own_writes(clock: FakeClock, window: float = WINDOW, max_callers: int = 1000) -> OwnWrites:
    never_contacted = aioredis.Redis.from_url("redis://127.0.0.1:1/0")  # not following: memory alone
    return OwnWrites(never_contacted, "test:own", window, 0.25, max_callers, clock=clock)


def slot() -> str:
    return str(uuid.uuid4())


# --- the store --------------------------------------------------------------------------------------------------


async def test_a_write_is_sent_with_the_callers_searches_for_the_window_and_then_forgotten() -> None:
    clock = FakeClock()
    writes = own_writes(clock)
    caller, other, held, booked = uuid.uuid4(), uuid.uuid4(), slot(), slot()
    assert writes.slots_of(caller) is None

    await writes.note(caller, held)
    clock.now += 60
    await writes.note(caller, booked)

    assert writes.slots_of(caller) == f"{held},{booked}"
    assert writes.slots_of(other) is None
    clock.now += 60  # the hold's window is over, the booking's is not
    assert writes.slots_of(caller) == booked
    clock.now += 60
    assert writes.slots_of(caller) is None
    assert len(writes) == 0


async def test_a_caller_keeps_its_most_recent_slots_only() -> None:
    writes = own_writes(FakeClock())
    caller, slots = uuid.uuid4(), [slot() for _ in range(SLOTS_PER_CALLER + 2)]
    for written in slots:
        await writes.note(caller, written)
    await writes.note(caller, slots[2])  # written again: the most recent

    assert writes.slots_of(caller) == ",".join([*slots[3:], slots[2]])


async def test_callers_beyond_the_bound_and_callers_whose_window_is_over_are_dropped_least_recent_first() -> None:
    clock = FakeClock()
    writes = own_writes(clock, max_callers=3)
    callers = [uuid.uuid4() for _ in range(4)]
    for caller in callers:
        await writes.note(caller, slot())
    assert len(writes) == 3
    assert writes.slots_of(callers[0]) is None
    assert all(writes.slots_of(caller) for caller in callers[1:])

    clock.now += WINDOW + 1
    await writes.note(uuid.uuid4(), slot())  # a new write clears out the callers whose window is over
    assert len(writes) == 1


async def test_with_no_window_nothing_is_remembered() -> None:
    writes = own_writes(FakeClock(), window=0)
    caller = uuid.uuid4()
    await writes.note(caller, slot())
    assert writes.slots_of(caller) is None


async def test_another_processs_published_write_is_remembered_and_junk_is_ignored() -> None:
    writes = own_writes(FakeClock())
    caller, booked = uuid.uuid4(), slot()
    writes._apply(f"{caller} {booked}".encode())
    for junk in (b"", b"not-a-uuid " + booked.encode(), f"{caller}".encode(), f"{caller} not-a-slot".encode()):
        writes._apply(junk)
    assert writes.slots_of(caller) == booked
    assert len(writes) == 1


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"id": "a", "slot_id": "6f1c1a48-2c3c-4f07-9a43-5d1e3b0f4a11", "status": "locked"}',
     "6f1c1a48-2c3c-4f07-9a43-5d1e3b0f4a11"),
    (b'{"id": "a"}', None), (b'{"slot_id": null}', None), (b'{"slot_id": "s-1"}', None), (b"[1, 2]", None),
    (b"not json", None), (b"", None),
])
def test_the_slot_an_answer_names(body: bytes, expected: str | None) -> None:
    assert slot_named(body) == expected


# --- the proxy --------------------------------------------------------------------------------------------------


class FakeUpstreams:
    """Answers every call with `answer`, and remembers the headers each call carried."""

    def __init__(self, answer: UpstreamAnswer) -> None:
        self.answer = answer
        self.sent: list[dict[str, str]] = []

    async def call(self, upstream: str, method: str, path_qs: str, body: bytes | None,
                   headers: Mapping[str, str]) -> UpstreamAnswer:
        self.sent.append(dict(headers))
        return self.answer


def route_of(method: str, path: str) -> Route:
    return next(route for route in ROUTES if (route.method, route.path) == (method, path))


def gateway_app(writes: OwnWrites, answer: UpstreamAnswer) -> web.Application:
    app = web.Application()
    app[TOKENS], app[IDENTITY_KEY], app[OWN_WRITES] = TOKENS_UNDER_TEST, IdentityKey(SECRET), writes
    app[UPSTREAMS] = FakeUpstreams(answer)  # type: ignore[assignment]
    return app


async def call(app: web.Application, method: str, path: str, route: Route, user: uuid.UUID,
               headers: dict[str, str] | None = None) -> web.Response:
    token = TOKENS_UNDER_TEST.issue(user, "client")
    request = make_mocked_request(method, path, app=app,
                                  headers={"Authorization": f"Bearer {token}", **(headers or {})})
    request[REQUEST_ID] = "r-1"
    response = await _handler(route)(request)
    assert isinstance(response, web.Response)
    return response


def sent(app: web.Application) -> list[dict[str, str]]:
    upstreams: Any = app[UPSTREAMS]
    return upstreams.sent


def appointment(slot_id: str) -> bytes:
    return orjson.dumps({"id": str(uuid.uuid4()), "status": "confirmed", "slot_id": slot_id})


SEARCH = "/v1/availability?service_id=00000000-0000-0000-0000-000000000001&from=2030-01-01&to=2030-01-02"


def test_the_three_seat_calls_and_the_search_are_routes() -> None:
    paths = {(route.method, route.path) for route in ROUTES}
    assert paths >= OWN_WRITE_ROUTES
    assert paths >= SEARCH_ROUTES


@pytest.mark.parametrize(("method", "path", "status"), [
    ("POST", "/v1/holds", 201), ("POST", "/v1/appointments", 201),
    ("POST", "/v1/appointments/{id}/reschedule", 200),
])
async def test_a_seat_answered_2xx_goes_with_the_callers_next_searches_and_no_one_elses(
    method: str, path: str, status: int
) -> None:
    writes, user, booked = own_writes(FakeClock()), uuid.uuid4(), slot()
    app = gateway_app(writes, UpstreamAnswer(status, appointment(booked), {"Content-Type": "application/json"}))

    answered = await call(app, method, path.replace("{id}", str(uuid.uuid4())), route_of(method, path), user)
    assert answered.status == status
    search = route_of("GET", "/v1/availability")
    await call(app, "GET", SEARCH, search, user)
    await call(app, "GET", SEARCH, search, uuid.uuid4())

    assert sent(app)[1][OWN_SLOTS_HEADER] == booked
    assert OWN_SLOTS_HEADER not in sent(app)[2]


@pytest.mark.parametrize("status", [409, 404, 429, 500])
async def test_a_refused_seat_is_not_remembered(status: int) -> None:
    writes, user = own_writes(FakeClock()), uuid.uuid4()
    app = gateway_app(writes, UpstreamAnswer(status, appointment(slot()), {}))
    await call(app, "POST", "/v1/holds", route_of("POST", "/v1/holds"), user)
    assert writes.slots_of(user) is None


async def test_other_calls_answered_2xx_with_a_slot_id_are_not_read() -> None:
    writes, user = own_writes(FakeClock()), uuid.uuid4()
    app = gateway_app(writes, UpstreamAnswer(200, appointment(slot()), {}))
    path = "/v1/appointments/{id}/confirm"
    await call(app, "POST", path.replace("{id}", str(uuid.uuid4())), route_of("POST", path), user)
    assert writes.slots_of(user) is None


async def test_a_callers_own_copy_of_the_header_never_reaches_availability() -> None:
    writes, user, booked = own_writes(FakeClock()), uuid.uuid4(), slot()
    app = gateway_app(writes, UpstreamAnswer(200, b'{"slots": []}', {}))
    search = route_of("GET", "/v1/availability")

    await call(app, "GET", SEARCH, search, user, {OWN_SLOTS_HEADER: slot()})
    await writes.note(user, booked)
    await call(app, "GET", SEARCH, search, user, {"x-smartslot-own-slots": slot()})

    forwarded = [[(name, value) for name, value in headers.items() if name.lower() == OWN_SLOTS_HEADER.lower()]
                 for headers in sent(app)]
    assert forwarded == [[], [(OWN_SLOTS_HEADER, booked)]]
