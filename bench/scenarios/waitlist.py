"""The waitlist under load: an admin cancels a booked slot that a client waits for; how soon is that client's offer
made?

Set-up (not measured): one booked slot per request and one client waiting for each slot. The measured requests are
the cancellations, sent open-loop; each one's latency runs from the moment its cancel request was sent to the
`waitlist.offer_made` row written for its slot (the outbox row's `created_at`, database clock on this host): booking's
cancellation, its outbox relay, RabbitMQ, the waitlist's consumer, its hold through booking's internal endpoint and
its own commit. Booking and the waitlist are called directly with the identity headers the gateway would forward,
signed with the stack's identity key as it signs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import datetime

import asyncpg
import orjson

from bench.catalog import add_slots, make_catalog
from bench.driver import LOWEST_US, Outcome, open_loop
from bench.environment import BenchEnvironment
from bench.invariants import check
from bench.scenarios.booking import ScenarioResult
from smartslot_common.testing import wait_for

JSON = {"Content-Type": "application/json"}
SETUP_CONCURRENCY = 20
OFFERS_TIMEOUT_SECONDS = 60.0


def _headers(role: str, user_id: uuid.UUID | None = None) -> dict[str, str]:
    return JSON | {"X-SmartSlot-User-Id": str(user_id or uuid.uuid4()), "X-SmartSlot-User-Role": role}


async def _post(
    env: BenchEnvironment, service: str, path: str, body: dict, headers: dict[str, str]
) -> tuple[int, dict]:
    status, raw = await env.client.request("POST", env.url(service) + path, orjson.dumps(body),
                                           env.signed("POST", path, headers))
    return status, (orjson.loads(raw) if raw else {})


async def _prepare(env: BenchEnvironment, slot_id: uuid.UUID, service_id: uuid.UUID) -> str:
    """Book the slot and put one client on its waitlist; return the appointment to cancel."""
    status, booked = await _post(env, "booking", "/v1/appointments", {"slot_id": str(slot_id)}, _headers("client"))
    if status != 201:
        raise RuntimeError(f"benchmark set-up: booking refused: {status} {booked}")
    body = {"service_id": str(service_id), "slot_id": str(slot_id)}
    status, entry = await _post(env, "waitlist", "/v1/waitlist", body, _headers("client"))
    if status != 201:
        raise RuntimeError(f"benchmark set-up: waitlist refused: {status} {entry}")
    return booked["id"]


async def _prepare_all(env: BenchEnvironment, slots: list[uuid.UUID], service_id: uuid.UUID) -> list[str]:
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(slot_id: uuid.UUID) -> str:
        async with gate:
            return await _prepare(env, slot_id, service_id)

    return await asyncio.gather(*(one(slot_id) for slot_id in slots))


async def _offers_made(connection: asyncpg.Connection, slots: list[uuid.UUID]) -> dict[str, list[datetime]]:
    """slot id -> when each `waitlist.offer_made` for it was written."""
    rows = await connection.fetch(
        "SELECT envelope->'payload'->>'slot_id' AS slot_id, created_at FROM waitlist.outbox "
        "WHERE event_type = 'waitlist.offer_made' AND envelope->'payload'->>'slot_id' = ANY($1::text[])",
        [str(slot_id) for slot_id in slots],
    )
    made: dict[str, list[datetime]] = {}
    for row in rows:
        made.setdefault(row["slot_id"], []).append(row["created_at"])
    return made


async def cancellation_to_offer(env: BenchEnvironment, rate: float, seconds: float) -> ScenarioResult:
    """Admin cancellations at `rate`/s, each freeing a slot one client waits for; latency to that client's offer."""
    count = max(1, int(rate * seconds))
    catalog = await make_catalog(env.api, env.admin_token, providers=5)
    slots = (await add_slots(env.database_url, catalog, per_provider=count // 5 + 1))[:count]
    appointments = await _prepare_all(env, slots, catalog.service_id)
    sent_at: dict[int, float] = {}
    admin = _headers("admin")

    async def cancel(number: int) -> int:
        sent_at[number] = time.time()
        status, _ = await _post(env, "booking", f"/v1/appointments/{appointments[number]}/cancel", {}, admin)
        return status

    # One connection for every look: a connection per poll would add a PostgreSQL backend's start to the stack's CPU.
    connection = await asyncpg.connect(env.database_url)
    try:
        async def all_made() -> bool:
            cancelled = list(sent_at)
            return len(await _offers_made(connection, [slots[n] for n in cancelled])) == len(cancelled)

        async with env.meter.measuring():  # a cancellation's unit of work ends when its slot has been offered
            cancels = await open_loop("waitlist_cancel_requests", cancel, rate, count, seconds * 3)
            with contextlib.suppress(AssertionError):  # reported below as missing offers
                await wait_for(all_made, OFFERS_TIMEOUT_SECONDS, interval=0.2, what="every offer")
        cancelled = sorted(sent_at)
        made = await _offers_made(connection, [slots[n] for n in cancelled])
    finally:
        await connection.close()
    outcome = _latencies(cancels, sent_at, slots, made)
    facts = {
        "cancellations": len(cancelled), "offers_made": sum(len(times) for times in made.values()),
        "cancel_request_p50_ms": cancels.percentile_ms(50), "cancel_request_p99_ms": cancels.percentile_ms(99),
    }
    invariants = await check(env.database_url, [])
    invariants |= {
        "waitlist_offers_missing": len(cancelled) - len(made),
        "waitlist_offered_twice": sum(1 for times in made.values() if len(times) > 1),
    }
    return ScenarioResult(outcome, facts, invariants)


def _latencies(cancels: Outcome, sent_at: dict[int, float], slots: list[uuid.UUID],
               made: dict[str, list[datetime]]) -> Outcome:
    """From each cancel request's send to its slot's first offer, as an outcome the report understands."""
    outcome = Outcome("waitlist_cancel_to_offer", cancels.offered_rate, cancels.sent, cancels.elapsed_seconds,
                      statuses=cancels.statuses, errors=cancels.errors)
    for number, sent in sent_at.items():
        times = made.get(str(slots[number]))
        if times:
            waited_us = int((min(times).timestamp() - sent) * 1_000_000)
            outcome.histogram.record_value(max(LOWEST_US, waited_us))
    return outcome
