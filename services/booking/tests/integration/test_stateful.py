"""A stateful property test: random sequences of holds, instant bookings, confirmations, cancellations (by the
client, or by an admin, which hands the slot to the waitlist first), the waitlist's own holds for the clients it
offers a seat to and its hand-backs of slots nobody wanted, reschedules and an advancing database clock,
run against the real booking service, PostgreSQL, Redis and RabbitMQ, with I1-I4 checked after every step.

Hypothesis drives a model of what the test did (who holds which seat of which slot, in which status, until when) and
compares every answer and the stored rows with it. A failing sequence is shrunk and printed step by step, each step
with the answer booking gave (`note`). There is no settable clock in booking: "time passes" moves the example's
deadlines (hold deadlines, the waitlist's first call on a freed slot) back by that many minutes on the database
clock, which is what the passing of time does to them, and then the hold sweeper must expire the due holds and free
their slots' locks within seconds (one period plus a loaded machine's slack).

Booking's side of the waitlist is in the model (a seat freed by staff is refused to the public until the waitlist's
first call runs out or the waitlist hands it back; the waitlist's holds, made as the waitlist makes them, pass that
reservation and the hold quota); the waitlist service itself is not run here. Its walk is asynchronous (an event
through RabbitMQ, a follow-up call back to booking, two sweepers, a hand-back), so a model of it would have to wait
for each freed seat to settle and mirror the queue's rules; claims racing expiry are the chaos suite's (8) and the
waitlist's own integration tests'.

The machine runs on a thread of its own; every call goes to the test's event loop, where the booking app and the
connections live. It has an isolated stack of its own, and each example compares the invariant checker's
whole-database counts with those it began with, so they are about that example alone.
`SMARTSLOT_STATEFUL_EXAMPLES` / `SMARTSLOT_STATEFUL_STEPS` make the run longer (defaults 20 x 15: seconds, for CI).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from booking import invariants
from smartslot_common.api_client import Answer
from smartslot_common.testing import IsolatedStack, isolated_stack, wait_for
from smartslot_common.testing.service_api import Catalog, Who

from .conftest import HOLD_TTL_SECONDS, MAX_LIVE_HOLDS, BookingApi, serve, settings_for

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("SMARTSLOT_STATEFUL_EXAMPLES", "20"))
STEPS = int(os.environ.get("SMARTSLOT_STATEFUL_STEPS", "15"))
SWEEP_SECONDS = 0.2
BUFFER_MINUTES = 10  # the waitlist's first call on a slot an admin freed (no waitlist runs here to hand it back)
HOLD_MINUTES = HOLD_TTL_SECONDS // 60
CALL_TIMEOUT = 30.0
CLIENTS = ("ana", "ben", "cem")
LIVE = ("locked", "confirmed")
EVENT_OF_STATUS = {"locked": "appointment.locked", "confirmed": "appointment.confirmed",
                   "cancelled": "appointment.cancelled", "expired": "appointment.expired"}
SEAT_CODES = frozenset({"slot_held", "slot_unavailable"})  # a full or reserved slot, or a seat the client has there
T = TypeVar("T")


@dataclass(eq=False)
class SlotModel:
    name: str
    id: str
    capacity: int
    reserved_until: int | None = None  # model minute until which public claims are refused

    def __repr__(self) -> str:
        return self.name


@dataclass(eq=False)
class AppointmentModel:
    number: int
    id: str
    client: str
    slot: SlotModel
    status: str
    expires_at: int  # model minute of the hold's deadline (meaningless once confirmed)

    def __repr__(self) -> str:
        return f"{self.client}'s #{self.number} on {self.slot}"


@dataclass
class Env:
    """What the machine's thread reaches on the test's event loop."""

    loop: asyncio.AbstractEventLoop
    api: BookingApi
    db: asyncpg.Connection
    redis: aioredis.Redis
    namespace: str
    examples: int = 0
    steps: int = 0

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT)


def _codes_for(status: str) -> set[str]:
    """The refusal of a confirm or reschedule of an appointment in `status` (not a hold any more)."""
    return {"invalid_transition", "hold_expired"} if status == "expired" else {"invalid_transition"}


class BookingMachine(RuleBasedStateMachine):
    """One clinic, one provider, three clients and a few slots per example; the model says what must happen."""

    env: ClassVar[Env]
    slots = Bundle("slots")
    appointments = Bundle("appointments")

    def __init__(self) -> None:
        super().__init__()
        self.now = 0  # minutes this example moved the database clock on
        self.slot_models: list[SlotModel] = []
        self.appointment_models: list[AppointmentModel] = []
        self.clients: dict[str, Who] = {}
        self.catalog: Catalog | None = None
        self.baseline: dict[str, int] | None = None  # the checker's counts as this example began
        self.env.examples += 1

    # --- what the model says ------------------------------------------------------------------------------

    def _live(self, slot: SlotModel) -> list[AppointmentModel]:
        return [a for a in self.appointment_models if a.slot is slot and a.status in LIVE]

    def _reserved(self, slot: SlotModel) -> bool:
        return slot.reserved_until is not None and slot.reserved_until > self.now

    def _seat_refusals(self, client: str, slot: SlotModel) -> set[str]:
        """Why a public claim of a seat on `slot` by `client` must be refused (empty: it must succeed)."""
        reasons = set()
        live = self._live(slot)
        if len(live) >= slot.capacity:
            reasons.add("full")
        if self._reserved(slot):
            reasons.add("reserved for the waitlist")
        if any(a.client == client for a in live):
            reasons.add("client already has a seat there")
        return reasons

    def _live_holds(self, client: str) -> int:
        return sum(1 for a in self.appointment_models if a.client == client and a.status == "locked")

    # --- talking to booking ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, who: Who, json: Any = None) -> Answer:
        reply = self.env.run(self.env.api.call(method, path, who, json))
        self.env.steps += 1
        body = reply.body if isinstance(reply.body, dict) else {}
        note(f"  -> {reply.status} {body.get('code') or body.get('status') or ''}".rstrip())
        assert reply.status < 500, f"I5: {method} {path} answered {reply.status}: {reply.body}"
        return reply

    def _expect_refusal(self, reply: Answer, reasons: set[str], codes: set[str]) -> None:
        note(f"  model: refused ({', '.join(sorted(reasons))})")
        assert reply.status in (409, 410, 429), f"expected a refusal ({reasons}), got {reply.status}: {reply.body}"
        assert reply.code in codes, f"expected one of {sorted(codes)} ({reasons}), got {reply.code}: {reply.body}"

    def _new_slot(self, capacity: int) -> SlotModel:
        assert self.catalog is not None
        index = len(self.slot_models)
        starts_at = self.env.api.future(days=5, minutes=60 * index)
        body = self.env.run(self.env.api.slot(self.catalog, starts_at, capacity))
        slot = SlotModel(f"slot{index}(cap {capacity})", body["id"], capacity)
        self.slot_models.append(slot)
        return slot

    def _appointment(self, body: dict[str, Any], client: str, slot: SlotModel, status: str) -> AppointmentModel:
        made = AppointmentModel(len(self.appointment_models), body["id"], client, slot, status,
                                self.now + HOLD_MINUTES)
        self.appointment_models.append(made)
        return made

    # --- rules ----------------------------------------------------------------------------------------------

    @initialize(target=slots)
    def open_clinic(self) -> Any:
        # What earlier examples left: nothing, unless one of them failed (the shrinker then runs more after it).
        self.baseline = self.env.run(invariants.check(self.env.db))
        self.catalog = self.env.run(self.env.api.catalog())
        self.clients = {name: self.env.api.who("client") for name in CLIENTS}
        return multiple(self._new_slot(1), self._new_slot(2))

    @precondition(lambda self: len(self.slot_models) < 5)
    @rule(target=slots, capacity=st.integers(1, 2))
    def add_slot(self, capacity: int) -> SlotModel:
        return self._new_slot(capacity)

    @rule(target=appointments, client=st.sampled_from(CLIENTS), slot=slots)
    def hold(self, client: str, slot: SlotModel) -> Any:
        note(f"{client} holds a seat on {slot}")
        reasons = self._seat_refusals(client, slot)
        if self._live_holds(client) >= MAX_LIVE_HOLDS:
            reasons.add("hold quota")
        reply = self._call("POST", "/v1/holds", self.clients[client], {"slot_id": slot.id})
        if reasons:
            self._expect_refusal(reply, reasons, (SEAT_CODES if reasons - {"hold quota"} else set())
                                 | ({"hold_quota"} if "hold quota" in reasons else set()))
            return multiple()
        assert (reply.status, reply.body.get("status")) == (201, "locked"), reply.body
        return self._appointment(reply.body, client, slot, "locked")

    @rule(target=appointments, client=st.sampled_from(CLIENTS), slot=slots)
    def book_now(self, client: str, slot: SlotModel) -> Any:
        note(f"{client} books a seat on {slot} at once")
        reasons = self._seat_refusals(client, slot)
        reply = self._call("POST", "/v1/appointments", self.clients[client], {"slot_id": slot.id})
        if reasons:
            self._expect_refusal(reply, reasons, set(SEAT_CODES))
            return multiple()
        assert (reply.status, reply.body.get("status")) == (201, "confirmed"), reply.body
        return self._appointment(reply.body, client, slot, "confirmed")

    @rule(appointment=appointments)
    def confirm(self, appointment: AppointmentModel) -> None:
        note(f"{appointment.client} confirms {appointment} ({appointment.status})")
        reply = self._call("POST", f"/v1/appointments/{appointment.id}/confirm", self.clients[appointment.client])
        if appointment.status != "locked":
            self._expect_refusal(reply, {f"it is {appointment.status}"}, _codes_for(appointment.status))
            return
        assert (reply.status, reply.body.get("status")) == (200, "confirmed"), reply.body
        appointment.status = "confirmed"

    @rule(appointment=appointments, by=st.sampled_from(["client", "admin"]))
    def cancel(self, appointment: AppointmentModel, by: str) -> None:
        note(f"{by} cancels {appointment} ({appointment.status})")
        who = self.clients[appointment.client] if by == "client" else self.env.api.admin()
        reply = self._call("POST", f"/v1/appointments/{appointment.id}/cancel", who, {})
        if appointment.status not in LIVE:
            self._expect_refusal(reply, {f"it is {appointment.status}"}, {"invalid_transition"})
            return
        assert (reply.status, reply.body.get("status")) == (200, "cancelled"), reply.body
        appointment.status = "cancelled"
        if by == "admin":  # a seat freed by staff goes to the waitlist first
            appointment.slot.reserved_until = self.now + BUFFER_MINUTES

    @rule(appointment=appointments, slot=slots)
    def reschedule(self, appointment: AppointmentModel, slot: SlotModel) -> None:
        note(f"{appointment.client} moves {appointment} ({appointment.status}) to {slot}")
        reply = self._call("POST", f"/v1/appointments/{appointment.id}/reschedule",
                           self.clients[appointment.client], {"slot_id": slot.id})
        reasons = {"same slot"} if slot is appointment.slot else self._seat_refusals(appointment.client, slot)
        if appointment.status not in LIVE:  # the target's Redis lock is asked first: a held target may answer
            codes = _codes_for(appointment.status) | (SEAT_CODES if reasons else set())
            self._expect_refusal(reply, reasons | {f"it is {appointment.status}"}, codes)
            return
        if reasons:
            self._expect_refusal(reply, reasons, set(SEAT_CODES))
            return
        assert (reply.status, reply.body.get("status"), reply.body.get("slot_id")) == (
            200, appointment.status, slot.id), reply.body
        appointment.slot = slot

    @rule(target=appointments, client=st.sampled_from(CLIENTS), slot=slots)
    def waitlist_holds(self, client: str, slot: SlotModel) -> Any:
        """The waitlist holds a seat for the client it offers it to: neither the reservation it has first call on
        nor the client's hold quota stops it; a full slot or a seat the client already has there does."""
        note(f"the waitlist holds a seat on {slot} for {client}")
        reasons = self._seat_refusals(client, slot) - {"reserved for the waitlist"}
        body = {"slot_id": slot.id, "client_id": str(self.clients[client].user_id), "ttl_seconds": HOLD_TTL_SECONDS}
        reply = self._call("POST", "/internal/v1/holds", self.env.api.who("system"), body)
        if reasons:
            self._expect_refusal(reply, reasons, set(SEAT_CODES))
            return multiple()
        assert (reply.status, reply.body.get("status"), reply.body.get("origin")) == (201, "locked", "waitlist"), \
            reply.body
        return self._appointment(reply.body, client, slot, "locked")

    @rule(slot=slots)
    def waitlist_hands_back(self, slot: SlotModel) -> None:
        """The waitlist found nobody for a slot it had first call on: the slot returns to the public at once."""
        note(f"the waitlist hands {slot} back")
        reply = self._call("POST", f"/internal/v1/slots/{slot.id}/release-reservation", self.env.api.who("system"))
        if slot.reserved_until is None:
            assert (reply.status, reply.code) == (404, "not_found"), reply.body
            return
        assert reply.status == 204, reply.body
        slot.reserved_until = None

    @rule(minutes=st.sampled_from([1, 4, 6, 11]))
    def time_passes(self, minutes: int) -> None:
        note(f"{minutes} minute(s) pass")
        self.now += minutes
        due = [a for a in self.appointment_models if a.status == "locked" and a.expires_at <= self.now]
        self.env.run(self._move_clock(minutes, due))
        for appointment in due:
            appointment.status = "expired"
        note(f"  model: {', '.join(map(repr, due)) or 'no hold'} expired")

    async def _move_clock(self, minutes: int, due: list[AppointmentModel]) -> None:
        """Every deadline of the example `minutes` nearer; then the sweeper must expire the due holds and free their
        slots' locks within seconds (I4)."""
        assert self.catalog is not None
        provider, shift = uuid.UUID(self.catalog.provider_id), timedelta(minutes=minutes)
        db = self.env.db
        await db.execute("UPDATE booking.appointments SET hold_expires_at = hold_expires_at - $2::interval"
                         " WHERE provider_id = $1 AND status = 'locked'", provider, shift)
        await db.execute("UPDATE booking.slots SET reserved_until = reserved_until - $2::interval"
                         " WHERE provider_id = $1 AND reserved_until IS NOT NULL", provider, shift)
        ids = [uuid.UUID(a.id) for a in due]
        locks = [f"{self.env.namespace}smartslot:slot:{a.slot.id}:lock" for a in due]

        async def swept() -> bool:
            left = await db.fetchval("SELECT count(*) FROM booking.appointments WHERE id = ANY($1::uuid[])"
                                     " AND status = 'locked'", ids)
            return left == 0 and (not locks or await self.env.redis.exists(*locks) == 0)

        await wait_for(swept, timeout=SWEEP_SECONDS + 5, what="the sweeper to expire the due holds")

    # --- checked after every step ---------------------------------------------------------------------------

    @invariant()
    def invariants_hold(self) -> None:
        if self.catalog is None:
            return
        self.env.run(self._check())

    async def _check(self) -> None:
        db = self.env.db
        counts = await invariants.check(db)
        assert self.baseline is not None
        grown = {name: count - self.baseline[name] for name, count in counts.items() if count > self.baseline[name]}
        assert not grown, f"I1/I3/I4: the invariant checker counts {grown} more than before this example"
        assert self.catalog is not None
        provider = uuid.UUID(self.catalog.provider_id)
        rows = await db.fetch("SELECT id::text, status, slot_id::text, client_id FROM booking.appointments"
                              " WHERE provider_id = $1", provider)
        stored = {row["id"]: (row["status"], row["slot_id"], row["client_id"]) for row in rows}
        expected = {a.id: (a.status, a.slot.id, self.clients[a.client].user_id) for a in self.appointment_models}
        assert stored == expected, "I2: every success is stored as the model has it, every refusal left nothing"
        for slot in self.slot_models:
            row = await db.fetchrow("SELECT capacity, held, booked FROM booking.slots WHERE id = $1::uuid", slot.id)
            live = self._live(slot)
            want = (slot.capacity, sum(a.status == "locked" for a in live), sum(a.status == "confirmed" for a in live))
            assert tuple(row) == want, f"I1: {slot} has (capacity, held, booked) {tuple(row)}, the model {want}"
        overlaps = await db.fetchval(
            "SELECT count(*) FROM booking.appointments a JOIN booking.appointments b ON a.id < b.id"
            " AND (a.client_id = b.client_id OR a.provider_id = b.provider_id) AND a.slot_id <> b.slot_id"
            " AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)"
            " WHERE a.provider_id = $1 AND a.status IN ('locked', 'confirmed') AND b.status IN ('locked', 'confirmed')",
            provider,
        )
        assert overlaps == 0, "I1: a client or the provider has two live appointments at once"
        missing = await db.fetch(
            "SELECT a.id::text, a.status FROM booking.appointments a WHERE a.provider_id = $1 AND NOT EXISTS ("
            " SELECT 1 FROM booking.outbox o WHERE o.envelope->'payload'->>'appointment_id' = a.id::text"
            " AND o.event_type = $2::jsonb->>a.status)",
            provider, orjson.dumps(EVENT_OF_STATUS).decode(),
        )
        assert not missing, f"I3: no outbox event for the status of {[tuple(row) for row in missing]}"


@pytest.fixture(scope="module")
async def own_stack() -> AsyncIterator[IsolatedStack]:
    """A database, vhost and key prefix for this module alone: the checker's counts are this test's."""
    async with isolated_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
async def env(own_stack: IsolatedStack) -> AsyncIterator[Env]:
    http: TestClient = await serve(settings_for(
        own_stack, sweep_interval_seconds=SWEEP_SECONDS, refusal_memory_seconds=0,
        waitlist_buffer_seconds=60 * BUFFER_MINUTES,
    ))
    db = await asyncpg.connect(own_stack.database_url)
    redis = aioredis.Redis.from_url(own_stack.redis_url)
    try:
        yield Env(asyncio.get_running_loop(), BookingApi(http), db, redis, own_stack.namespace)
    finally:
        await redis.aclose()
        await db.close()
        await http.close()


# A longer run (SMARTSLOT_STATEFUL_EXAMPLES=500) needs more than the suite's 120 s: about 0.05 s a call here.
@pytest.mark.timeout(max(120, EXAMPLES * STEPS))
async def test_random_sequences_of_bookings_keep_every_invariant(env: Env) -> None:
    BookingMachine.env = env
    run_settings = settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    await asyncio.to_thread(run_state_machine_as_test, BookingMachine, settings=run_settings)
    print(f"{env.examples} examples, {env.steps} calls to booking")


async def test_a_seat_freed_beside_a_moved_hold_is_open_to_the_next_client(api: BookingApi, catalog: Catalog) -> None:
    """Found by the machine above: a hold rescheduled onto the last seat of a two-seat slot kept the slot's Redis
    lock, so when the other seat was freed the next client was told `slot_held` for up to the hold's TTL."""
    two_seats = await api.slot(catalog, api.future(days=6), capacity=2)
    elsewhere = await api.slot(catalog, api.future(days=6, minutes=60))
    ben, ana, cem = api.client(), api.client(), api.client()
    bens = await api.hold(two_seats["id"], ben)
    anas = await api.hold(elsewhere["id"], ana)
    assert (bens.status, anas.status) == (201, 201)
    moved = await api.call("POST", f"/v1/appointments/{anas.body['id']}/reschedule", ana, {"slot_id": two_seats["id"]})
    assert moved.status == 200, moved.body
    cancelled = await api.call("POST", f"/v1/appointments/{bens.body['id']}/cancel", ben, {})
    assert cancelled.status == 200, cancelled.body

    reply = await api.hold(two_seats["id"], cem)
    assert reply.status == 201, reply.body
