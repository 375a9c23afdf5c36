"""Broken object-level authorisation, tried on every call that names someone's resource (OWASP API1), through the
gateway on the whole stack: another client, another provider or a client on an admin call gets `404` — never the
resource, never a `403` that confirms it exists — and the database shows nothing changed.

World: providers X and Y of one service; client A holds one slot of X's and has booked another; client B and provider
Y are the intruders. Where a call has an owner, the owner makes it first and must be served: the matrix proves
hiding, not breakage, so a call its owner cannot make either fails the test.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from gateway.routing import ADMIN, OWN_ROUTES, ROUTES
from smartslot_common.api_client import ApiClient
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.e2e


@dataclass
class Actor:
    token: str
    user_id: str
    provider_id: str | None = None


@dataclass
class World:
    admin: str
    service_id: str
    x: Actor
    y: Actor
    a: Actor
    b: Actor
    held: str  # A's locked appointment on X
    booked: str  # A's confirmed appointment on X
    free_slot: str  # an open slot of X's
    day: str  # the day of X's slots, YYYY-MM-DD
    notification: str | None = None  # one of A's notifications (None: none arrived in time)
    waitlist_entry: str | None = None  # A's waitlist entry (None: joining failed, see waitlist_answer)
    waitlist_answer: Any = None
    ids: dict[str, str] = field(default_factory=dict)

    def fill(self, path: str) -> str:
        return path.format(**self.ids)


async def _user(api: ApiClient, admin: str, role: str, label: str) -> Actor:
    email, password = f"{label}-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    if role == "client":
        created = await api.register(email, password, label.title())
    else:
        created = await api.call("POST", "/v1/admin/users", admin,
                                 {"email": email, "password": password, "name": label.title(), "role": role})
    assert created.status == 201, created.body
    return Actor(await api.token(email, password), created.body["id"])


async def _provider(api: ApiClient, admin: str, clinic_id: str, service_id: str, label: str) -> Actor:
    actor = await _user(api, admin, "provider", label)
    provider = await api.call("POST", "/v1/providers", admin, {
        "user_id": actor.user_id, "clinic_id": clinic_id, "display_name": label, "service_ids": [service_id]})
    assert provider.status == 201, provider.body
    actor.provider_id = provider.body["id"]
    return actor


async def _slot(api: ApiClient, token: str, provider_id: str, service_id: str, starts_at: datetime) -> str:
    slot = await api.call("POST", f"/v1/providers/{provider_id}/slots", token,
                          {"service_id": service_id, "starts_at": starts_at.isoformat()})
    assert slot.status == 201, slot.body
    return str(slot.body["id"])


NOTIFICATION_DEADLINE_SECONDS = 30


async def _notification_of(api: ApiClient, token: str) -> str | None:
    """One of the client's notifications (the booking's), or None when none arrives before the deadline."""
    async def first() -> str | None:
        items = (await api.call("GET", "/v1/notifications", token)).body.get("items", [])
        return items[0]["id"] if items else None

    try:
        return await wait_for(first, NOTIFICATION_DEADLINE_SECONDS, what="client A's first notification")
    except AssertionError:
        return None  # the cases that need it fail, saying so; the others still run


async def _join_waitlist(api: ApiClient, world: World) -> None:
    joined = await api.call("POST", "/v1/waitlist", world.a.token, {"service_id": world.service_id})
    world.waitlist_answer = (joined.status, joined.body)
    world.waitlist_entry = str(joined.body["id"]) if joined.status == 201 else None


@pytest.fixture(scope="module")
async def world(api: ApiClient, admin_token: str) -> World:
    service = await api.call("POST", "/v1/services", admin_token, {
        "name": f"BOLA {secrets.token_hex(3)}", "duration_minutes": 30, "price_cents": 4000, "currency": "EUR",
        "cancellation_policy": {"kind": "strict", "window_hours": 24, "fee_percent": 50}})
    assert service.status == 201, service.body
    clinic = await api.call("POST", "/v1/clinics", admin_token, {"name": "BOLA", "timezone": "Europe/Berlin"})
    assert clinic.status == 201, clinic.body
    service_id, clinic_id = service.body["id"], clinic.body["id"]
    x = await _provider(api, admin_token, clinic_id, service_id, "x")
    y = await _provider(api, admin_token, clinic_id, service_id, "y")
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    slots = [await _slot(api, admin_token, x.provider_id or "", service_id, start + timedelta(hours=n))
             for n in range(3)]
    a, b = await _user(api, admin_token, "client", "a"), await _user(api, admin_token, "client", "b")
    held = await api.call("POST", "/v1/holds", a.token, {"slot_id": slots[0]})
    booked = await api.call("POST", "/v1/appointments", a.token, {"slot_id": slots[1]})
    assert (held.status, booked.status) == (201, 201), (held.body, booked.body)
    world = World(admin_token, service_id, x, y, a, b, held.body["id"], booked.body["id"], slots[2],
                  start.date().isoformat())
    world.notification = await _notification_of(api, a.token)
    await _join_waitlist(api, world)
    world.ids = {"held": world.held, "booked": world.booked, "free_slot": world.free_slot, "x": x.provider_id or "",
                 "day": world.day, "notification": world.notification or str(uuid.uuid4()),
                 "entry": world.waitlist_entry or str(uuid.uuid4()), "service": service_id,
                 "start": (start + timedelta(days=1)).isoformat(),
                 "end": (start + timedelta(days=1, hours=2)).isoformat()}
    return world


async def snapshot(db: asyncpg.Connection, world: World) -> dict[str, Any]:
    """Everything an intruder could have changed: A's appointments, X's schedule, A's feed."""
    x = uuid.UUID(world.x.provider_id or "")
    return {
        "appointments": [tuple(row) for row in await db.fetch(
            "SELECT id, status, slot_id, fee_cents, updated_at FROM booking.appointments WHERE client_id = $1 "
            "ORDER BY id", uuid.UUID(world.a.user_id))],
        "slots": [tuple(row) for row in await db.fetch(
            "SELECT id, status, held, booked, version, starts_at FROM booking.slots WHERE provider_id = $1 "
            "ORDER BY id", x)],
        "time_off": await db.fetchval("SELECT count(*) FROM booking.time_off WHERE provider_id = $1", x),
        "working_hours": [tuple(row) for row in await db.fetch(
            "SELECT weekday, start_local, end_local FROM booking.working_hours WHERE provider_id = $1 "
            "ORDER BY 1, 2", x)],
        "feed": [tuple(row) for row in await db.fetch(
            "SELECT id, read_at FROM notifier.notifications WHERE user_id = $1 ORDER BY id",
            uuid.UUID(world.a.user_id))],
    }


# (intruder, method, path, body, owner) — `owner` makes the same call legitimately, to tell "not built" from "hidden"
CASES = [
    ("b", "GET", "/v1/appointments/{booked}", None, "a"),
    ("b", "POST", "/v1/appointments/{held}/confirm", None, None),
    ("b", "POST", "/v1/appointments/{booked}/cancel", {"reason": "not mine"}, None),
    ("b", "GET", "/v1/appointments/{booked}/cancellation-quote", None, "a"),
    ("b", "POST", "/v1/appointments/{booked}/reschedule", {"slot_id": "{free_slot}"}, None),
    ("b", "GET", "/v1/appointments/{booked}/calendar.ics", None, "a"),
    ("b", "POST", "/v1/appointments/{booked}/complete", None, None),
    ("b", "POST", "/v1/appointments/{booked}/no-show", None, None),
    ("y", "GET", "/v1/appointments/{booked}", None, "x"),
    ("y", "POST", "/v1/appointments/{booked}/cancel", {"reason": "not mine"}, None),
    ("y", "POST", "/v1/appointments/{booked}/complete", None, None),
    ("y", "POST", "/v1/appointments/{booked}/no-show", None, None),
    ("y", "GET", "/v1/appointments/{booked}/calendar.ics", None, "x"),
    ("y", "PUT", "/v1/providers/{x}/working-hours",
     {"rules": [{"weekday": 0, "start": "09:00", "end": "10:00", "service_id": "{service}"}]}, None),
    ("y", "POST", "/v1/providers/{x}/time-off",
     {"starts_at": "{start}", "ends_at": "{end}", "reason": "taken over", "cancel_conflicting": True}, None),
    ("y", "POST", "/v1/providers/{x}/slots", {"service_id": "{service}", "starts_at": "{end}"}, None),
    ("y", "DELETE", "/v1/slots/{free_slot}", None, None),
    ("y", "GET", "/v1/providers/{x}/schedule?date={day}", None, "x"),
    ("y", "GET", "/v1/providers/{x}/working-hours", None, "x"),
    ("b", "GET", "/v1/providers/{x}/working-hours", None, "x"),
    ("b", "PUT", "/v1/providers/{x}/working-hours",
     {"rules": [{"weekday": 0, "start": "09:00", "end": "10:00", "service_id": "{service}"}]}, None),
    ("b", "DELETE", "/v1/slots/{free_slot}", None, None),
    ("b", "GET", "/v1/providers/{x}/schedule?date={day}", None, "x"),
    ("b", "DELETE", "/v1/waitlist/{entry}", None, "waitlist"),
    ("b", "POST", "/v1/notifications/{notification}/read", None, "notification"),
]


def _filled(value: Any, world: World) -> Any:
    if isinstance(value, str):
        return world.fill(value)
    if isinstance(value, dict):
        return {key: _filled(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, world) for item in value]
    return value


async def _check_the_owner_can(api: ApiClient, world: World, owner: str | None, method: str, path: str) -> None:
    """The resource exists and its owner is served; otherwise an intruder's 404 would prove nothing."""
    if owner == "waitlist":
        assert world.waitlist_entry is not None, f"client A could not join the waitlist: {world.waitlist_answer}"
    if owner == "notification":
        assert world.notification is not None, (
            f"client A got no notification within {NOTIFICATION_DEADLINE_SECONDS} s of booking")
    if owner in ("a", "x") and method == "GET":
        answer = await api.call("GET", path, getattr(world, owner).token)
        assert answer.status == 200, (f"GET {path} as its owner", answer.status, answer.body)


@pytest.mark.parametrize(("intruder", "method", "path", "body", "owner"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
async def test_another_users_resource_is_404_and_unchanged(
    api: ApiClient, db: asyncpg.Connection, world: World, intruder: str, method: str, path: str, body: Any,
    owner: str | None,
) -> None:
    path, body = world.fill(path), _filled(body, world)
    await _check_the_owner_can(api, world, owner, method, path)
    before = await snapshot(db, world)
    answer = await api.call(method, path, getattr(world, intruder).token, body)
    assert (answer.status, answer.code) == (404, "not_found"), (method, path, answer.status, answer.body)
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert await snapshot(db, world) == before, "an intruder's call changed nothing"


async def test_lists_show_nobody_elses_appointments(api: ApiClient, world: World) -> None:
    mine = {world.held, world.booked}
    for intruder in (world.b, world.y):
        listed = await api.call("GET", "/v1/appointments?limit=200", intruder.token)
        assert listed.status == 200, listed.body
        assert mine.isdisjoint(item["id"] for item in listed.body["items"])
    own = await api.call("GET", "/v1/appointments?limit=200", world.x.token)
    assert mine <= {item["id"] for item in own.body["items"]}, "its provider does see them"


async def test_owners_may_see_what_intruders_may_not(api: ApiClient, world: World) -> None:
    """The matrix proves hiding, not breakage: the same reads succeed for the resource's owners."""
    for actor in (world.a, world.x):
        assert (await api.call("GET", f"/v1/appointments/{world.booked}", actor.token)).status == 200


ADMIN_CALLS = [(route.method, route.path) for route in ROUTES + OWN_ROUTES if route.roles == ADMIN]


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS, ids=[f"{m}-{p}" for m, p in ADMIN_CALLS])
async def test_a_client_gets_404_on_every_admin_call(
    api: ApiClient, db: asyncpg.Connection, world: World, method: str, path: str
) -> None:
    target = re_fill(path)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    before = await snapshot(db, world)
    answer = await api.call(method, target, world.b.token, body)
    assert (answer.status, answer.code) == (404, "not_found"), (method, target, answer.body)
    assert await snapshot(db, world) == before


def re_fill(path: str) -> str:
    """A template's path parameters replaced by fresh ids."""
    return re.sub(r"{\w+}", lambda _: str(uuid.uuid4()), path)
