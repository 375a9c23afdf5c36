"""Booking under load through the gateway, as clients book: each with a signed access token and an e-mail address,
so every booking is followed by its confirmation email.

- instant bookings spread over many slots (no contention: the cost of one booking, its email included: the unit of
  work ends when the email has arrived);
- a hot-slot storm: many clients at once on one slot (exactly one may win; the rest are turned away before
  PostgreSQL).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import orjson

from bench.catalog import add_slots, make_catalog
from bench.driver import Outcome, burst, open_loop
from bench.environment import BenchEnvironment
from bench.invariants import check
from bench.scenarios.clients import minted_clients
from bench.scenarios.mail import Arrivals
from smartslot_common.testing import wait_for

JSON = {"Content-Type": "application/json"}
BOOKING_CLIENTS = 10_000  # distinct clients of one run at most (tokens are minted, not registered)


def _as(token: str) -> dict[str, str]:
    return JSON | {"Authorization": f"Bearer {token}"}


@dataclass
class ScenarioResult:
    outcome: Outcome
    facts: dict
    invariants: dict
    cpu: dict | None = None  # CPU per request over the load, filled in by the run (bench.profiling.meter)


async def _post(env: BenchEnvironment, path: str, body: dict[str, str], token: str, answered: list[str]) -> int:
    status, payload = await env.client.request("POST", env.url("gateway") + path, orjson.dumps(body), _as(token))
    if status == 201:
        answered.append(orjson.loads(payload)["id"])
    return status


async def instant_bookings(env: BenchEnvironment, rate: float, seconds: float) -> ScenarioResult:
    """`POST /v1/appointments {slot_id}` through the gateway at `rate`/s, every request by its own client on its own
    free slot; measured until every booking's confirmation email has arrived."""
    count = int(rate * seconds)
    catalog = await make_catalog(env.api, env.admin_token, providers=10)
    slots = await add_slots(env.database_url, catalog, per_provider=count // 10 + 1)
    tokens = minted_clients(env, min(count, BOOKING_CLIENTS))
    answered: list[str] = []
    arrivals = Arrivals(env.mail_dir)

    async def all_arrived() -> bool:
        return set(answered) <= arrivals.poll().keys()

    async with env.meter.measuring():  # a booking's unit of work ends when its email has arrived
        outcome = await open_loop(
            "instant_bookings", lambda n: _post(env, "/v1/appointments", {"slot_id": str(slots[n])},
                                                tokens[n % len(tokens)], answered),
            rate, count, seconds * 3,
        )
        await wait_for(all_arrived, 120, interval=0.1, what="every confirmation email")
    facts = {"bookings_confirmed": len(answered), "emails": len(set(answered) & arrivals.times.keys())}
    return ScenarioResult(outcome, facts, await check(env.database_url, answered))


async def _slot_version(database_url: str, slot_id: uuid.UUID) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT version FROM booking.slots WHERE id = $1", slot_id)
    finally:
        await connection.close()


async def hot_slot_storm(env: BenchEnvironment, clients: int) -> ScenarioResult:
    """`clients` holds on one slot through the gateway, each by a client of its own, released at once: one 201, the
    rest 409, few writes to the slot's row."""
    catalog = await make_catalog(env.api, env.admin_token, providers=1)
    [slot] = await add_slots(env.database_url, catalog, per_provider=1)
    before = await _slot_version(env.database_url, slot)
    tokens, answered = minted_clients(env, clients), []
    async with env.meter.measuring():
        outcome = await burst("hot_slot_storm", lambda n: _post(env, "/v1/holds", {"slot_id": str(slot)}, tokens[n],
                                                                answered), clients)
    writes = await _slot_version(env.database_url, slot) - before
    losers = {status: count for status, count in outcome.statuses.items() if status != 201}
    facts = {"clients": clients, "winners": len(answered), "losers_by_status": losers, "slot_row_writes": writes}
    return ScenarioResult(outcome, facts, await check(env.database_url, answered))
