"""Booking under load, called directly with the identity headers the gateway would forward.

- instant bookings spread over many slots (no contention: the cost of one booking);
- a hot-slot storm: many clients at once on one slot (exactly one may win; Redis turns the rest away).
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

JSON = {"Content-Type": "application/json"}


def _client_headers() -> dict[str, str]:
    return JSON | {"X-SmartSlot-User-Id": str(uuid.uuid4()), "X-SmartSlot-User-Role": "client"}


@dataclass
class ScenarioResult:
    outcome: Outcome
    facts: dict
    invariants: dict
    cpu: dict | None = None  # CPU per request over the load, filled in by the run (bench.profiling.meter)


async def _post(env: BenchEnvironment, path: str, body: dict, answered: list[str]) -> int:
    status, payload = await env.client.request("POST", env.url("booking") + path, orjson.dumps(body),
                                               _client_headers())
    if status == 201:
        answered.append(orjson.loads(payload)["id"])
    return status


async def instant_bookings(env: BenchEnvironment, rate: float, seconds: float) -> ScenarioResult:
    """`POST /v1/appointments {slot_id}` at `rate`/s, every request on its own free slot."""
    count = int(rate * seconds)
    catalog = await make_catalog(env.api, env.admin_token, providers=10)
    slots = await add_slots(env.database_url, catalog, per_provider=count // 10 + 1)
    answered: list[str] = []
    async with env.meter.measuring():
        outcome = await open_loop(
            "instant_bookings", lambda n: _post(env, "/v1/appointments", {"slot_id": str(slots[n])}, answered),
            rate, count, seconds * 3,
        )
    return ScenarioResult(outcome, {"bookings_confirmed": len(answered)}, await check(env.database_url, answered))


async def _slot_version(database_url: str, slot_id: uuid.UUID) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT version FROM booking.slots WHERE id = $1", slot_id)
    finally:
        await connection.close()


async def hot_slot_storm(env: BenchEnvironment, clients: int) -> ScenarioResult:
    """`clients` holds on one slot released at once: one 201, the rest 409, few writes to the slot's row."""
    catalog = await make_catalog(env.api, env.admin_token, providers=1)
    [slot] = await add_slots(env.database_url, catalog, per_provider=1)
    before = await _slot_version(env.database_url, slot)
    answered: list[str] = []
    async with env.meter.measuring():
        outcome = await burst("hot_slot_storm", lambda n: _post(env, "/v1/holds", {"slot_id": str(slot)}, answered),
                              clients)
    writes = await _slot_version(env.database_url, slot) - before
    losers = {status: count for status, count in outcome.statuses.items() if status != 201}
    facts = {"clients": clients, "winners": len(answered), "losers_by_status": losers, "slot_row_writes": writes}
    return ScenarioResult(outcome, facts, await check(env.database_url, answered))
