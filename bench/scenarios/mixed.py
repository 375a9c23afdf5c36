"""Through the gateway as clients: the hold → confirm funnel, and a mixed day of reads, bookings and cancellations.

- funnel: each request is one client's whole purchase, `POST /v1/holds` then `POST /v1/appointments/{id}/confirm`;
  its latency runs from the intended start to the confirmation;
- mixed day: 90 % availability searches, 10 % writes alternating instant bookings and cancellations of earlier
  bookings (a client's own), all open loop at one rate.

Both end with the invariant checks; the mixed day also counts cancellations the API accepted that the database
does not show as cancelled.
"""

from __future__ import annotations

import uuid
from collections import Counter

import asyncpg
import orjson

from bench.catalog import add_slots, make_catalog
from bench.driver import open_loop
from bench.environment import BenchEnvironment
from bench.invariants import check
from bench.scenarios.availability import PROVIDERS, SLOTS_PER_PROVIDER, prepared_searches, questions_for
from bench.scenarios.booking import ScenarioResult
from bench.scenarios.clients import register_clients

CLIENTS = 40  # enough that no client nears the live-hold quota while its funnels overlap
READS_PER_WRITE = 9
EMPTY = orjson.dumps({})  # the body of a confirm or a cancel


async def hold_confirm_funnel(env: BenchEnvironment, rate: float, seconds: float) -> ScenarioResult:
    """`rate` funnels per second, each on its own free slot: hold, then confirm."""
    tokens = await register_clients(env, CLIENTS)
    catalog = await make_catalog(env.api, env.admin_token, providers=10)
    count = int(rate * seconds)
    slots = await add_slots(env.database_url, catalog, per_provider=count // 10 + 1)
    confirmed: list[str] = []
    steps: Counter = Counter()
    gateway, headers = env.url("gateway"), _json_headers(tokens)

    async def funnel(number: int) -> int:
        client = headers[number % CLIENTS]
        status, body = await env.client.request("POST", gateway + "/v1/holds",
                                                orjson.dumps({"slot_id": str(slots[number])}), client)
        steps[f"hold {status}"] += 1
        if status != 201:
            return status
        held = orjson.loads(body)["id"]
        status, _ = await env.client.request("POST", f"{gateway}/v1/appointments/{held}/confirm", EMPTY, client)
        steps[f"confirm {status}"] += 1
        if status == 200:
            confirmed.append(held)
        return status

    async with env.meter.measuring():
        outcome = await open_loop("hold_confirm_funnel", funnel, rate, count, seconds * 3)
    facts = {"funnels": outcome.sent, "confirmed": len(confirmed), "steps": dict(steps)}
    return ScenarioResult(outcome, facts, await check(env.database_url, confirmed))


async def mixed_day(env: BenchEnvironment, rate: float, seconds: float) -> ScenarioResult:
    """Open loop at `rate`/s: nine searches, then one write (a booking, or a cancellation of an earlier one)."""
    tokens = await register_clients(env, CLIENTS)
    catalog = await make_catalog(env.api, env.admin_token, providers=PROVIDERS)
    slots = await add_slots(env.database_url, catalog, per_provider=SLOTS_PER_PROVIDER)
    questions = questions_for(catalog)
    searches = [prepared_searches(env, token, questions) for token in tokens]  # per client, per question
    gateway, headers = env.url("gateway"), _json_headers(tokens)
    booked: list[tuple[str, dict[str, str]]] = []  # (appointment id, its client's headers), not yet cancelled
    confirmed: list[str] = []
    cancelled: list[str] = []
    kinds: Counter = Counter()
    writes = 0

    async def read(number: int) -> int:
        status, _ = await env.client.send(searches[number % CLIENTS][number % len(questions)])
        return status

    async def book(number: int) -> int:
        client = headers[number % CLIENTS]
        status, body = await env.client.request("POST", gateway + "/v1/appointments",
                                                orjson.dumps({"slot_id": str(slots[number % len(slots)])}), client)
        if status == 201:
            appointment_id = orjson.loads(body)["id"]
            booked.append((appointment_id, client))
            confirmed.append(appointment_id)
        return status

    async def cancel(appointment_id: str, client: dict[str, str]) -> int:
        status, _ = await env.client.request("POST", f"{gateway}/v1/appointments/{appointment_id}/cancel", EMPTY,
                                             client)
        if status == 200:
            cancelled.append(appointment_id)
        return status

    async def request(number: int) -> int:
        nonlocal writes
        if number % (READS_PER_WRITE + 1) != READS_PER_WRITE:
            kinds["read"] += 1
            return await read(number)
        writes += 1
        if writes % 2 == 0 and booked:
            kinds["cancel"] += 1
            return await cancel(*booked.pop(0))
        kinds["book"] += 1
        return await book(writes * 37)  # spread over providers and hours

    async with env.meter.measuring():
        outcome = await open_loop("mixed_day", request, rate, int(rate * seconds), seconds * 3)
    facts = {"requests": dict(kinds), "booked": len(confirmed), "cancelled": len(cancelled)}
    invariants = await check(env.database_url, confirmed)
    invariants["I2_cancel_answered_but_not_cancelled"] = await _not_cancelled(env.database_url, cancelled)
    return ScenarioResult(outcome, facts, invariants)


def _json_headers(tokens: list[str]) -> list[dict[str, str]]:
    """Each client's headers for a JSON call, as the API client sends them."""
    return [{"Authorization": f"Bearer {token}", "Content-Type": "application/json"} for token in tokens]


async def _not_cancelled(database_url: str, cancelled: list[str]) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetchval(
            "SELECT count(*) FROM booking.appointments WHERE id = ANY($1::uuid[]) AND status = 'cancelled'",
            [uuid.UUID(value) for value in cancelled])
    finally:
        await connection.close()
    return len(cancelled) - stored
