"""Availability under a read-heavy mix, through the gateway (JWT, rate limiter, proxy, availability, Redis, replica).

Open-loop `GET /v1/availability` at a configurable rate over a dozen questions (every provider of the service for a
day and for a week, and each provider for a day), while a trickle of instant bookings straight to booking makes
events that invalidate the pages they touch. Reports the driver's latency, availability's cache hit ratio (from its
`/metrics`, before and after) and, as an invariant, whether any booked slot is still listed once its confirmation
has been consumed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench.catalog import BenchCatalog, add_slots, make_catalog
from bench.driver import open_loop
from bench.environment import BenchEnvironment
from bench.invariants import check
from bench.scenarios.booking import ScenarioResult
from bench.scenarios.clients import register_clients
from smartslot_common.http.lean_client import Prepared
from smartslot_common.testing import wait_for

# The gateway's per-caller limits would turn an open-loop read benchmark into a rate-limiter benchmark.
# A benchmark measures the system, not the door's limits: the gateway's rate limits are lifted for it.
GATEWAY_SETTINGS = {
    f"SMARTSLOT_GATEWAY_RATE_LIMIT_{rule}": "1000000/minute" for rule in ("USER", "IP", "AUTH", "BOOKING")
}
CACHE_REQUESTS = "smartslot_availability_cache_requests"
EVENTS_CONSUMED = "smartslot_events_consumed"
PROVIDERS, SLOTS_PER_PROVIDER = 10, 96  # a day of 15-minute slots each, from tomorrow on
WRITE_SHARE = 0.01  # one booking per hundred reads


def questions_for(catalog: BenchCatalog) -> list[dict[str, str]]:
    """What readers ask: every provider for a day and for a week, and each provider for a day."""
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    day, week = start + timedelta(days=1), start + timedelta(days=7)
    service = str(catalog.service_id)
    everyone = [{"service_id": service, "from": start.isoformat(), "to": end.isoformat()} for end in (day, week)]
    each = [{"service_id": service, "from": start.isoformat(), "to": day.isoformat(), "provider_id": str(provider)}
            for provider in catalog.provider_ids]
    return everyone + each


async def _cache_counts(env: BenchEnvironment) -> dict[str, float]:
    """Availability's cache outcomes so far (hit, miss, error)."""
    async with env.session.get(env.url("availability") + "/metrics") as response:
        text = await response.text()
    return {sample.labels["outcome"]: sample.value
            for family in text_string_to_metric_families(text) if family.name == CACHE_REQUESTS
            for sample in family.samples if sample.name == CACHE_REQUESTS + "_total"}


def prepared_searches(env: BenchEnvironment, token: str, questions: list[dict[str, str]]) -> list[Prepared]:
    """Each question as the bytes of its `GET /v1/availability`, encoded once for the whole run."""
    return [env.client.prepare("GET", env.url("gateway") + "/v1/availability", params=question,
                               headers={"Authorization": f"Bearer {token}"}) for question in questions]


async def _read(env: BenchEnvironment, search: Prepared) -> int:
    status, _ = await env.client.send(search)
    return status


async def _book(env: BenchEnvironment, slot: uuid.UUID, answered: list[str]) -> int:
    headers = {"Content-Type": "application/json", "X-SmartSlot-User-Id": str(uuid.uuid4()),
               "X-SmartSlot-User-Role": "client"}
    status, body = await env.client.request("POST", env.url("booking") + "/v1/appointments",
                                            orjson.dumps({"slot_id": str(slot)}),
                                            env.signed("POST", "/v1/appointments", headers))
    if status == 201:
        answered.append(orjson.loads(body)["id"])
    return status


async def _confirmations_applied(env: BenchEnvironment) -> float:
    """How many confirmations availability has applied so far (its invalidations are idempotent: no inbox)."""
    async with env.session.get(env.url("availability") + "/metrics") as response:
        text = await response.text()
    return sum(sample.value for family in text_string_to_metric_families(text) if family.name == EVENTS_CONSUMED
               for sample in family.samples
               if sample.name == EVENTS_CONSUMED + "_total" and sample.labels.get("consumer") == "availability"
               and sample.labels.get("event_type") == "appointment.confirmed"
               and sample.labels.get("outcome") == "applied")


async def _still_listed(env: BenchEnvironment, token: str, catalog: BenchCatalog, answered: list[str],
                        applied_before: float) -> int:
    """Booked slots some question still lists, once availability has applied every confirmation."""
    async def consumed() -> bool:
        return await _confirmations_applied(env) - applied_before >= len(answered)

    await wait_for(consumed, 30, what="availability to apply every confirmation")
    connection = await asyncpg.connect(env.database_url)
    try:
        booked = {str(row["slot_id"]) for row in await connection.fetch(
            "SELECT slot_id FROM booking.appointments WHERE id = ANY($1::uuid[])", [uuid.UUID(a) for a in answered])}
    finally:
        await connection.close()
    listed: set[str] = set()
    for question in questions_for(catalog):
        page = await wait_for(lambda question=question: _answer(env, token, question), 60,
                              what="an answer to the check's search (the gateway sheds load after an overload)")
        listed |= {slot["slot_id"] for slot in page["slots"]}
    return len(booked & listed)


async def _answer(env: BenchEnvironment, token: str, question: dict[str, str]) -> dict | None:
    """The search's page, or None while the stack still answers 503 (breaker open) or 429 after an overload."""
    async with env.session.get(env.url("gateway") + "/v1/availability", params=question,
                               headers={"Authorization": f"Bearer {token}"}) as response:
        return await response.json() if response.status == 200 else None


async def cached_reads(env: BenchEnvironment, rate: float, seconds: float) -> ScenarioResult:
    """Open-loop searches at `rate`/s for `seconds` through the gateway, with bookings at 1 % of that rate; the
    questions asked once before (the cache they read is warm, as it is after a clinic's first reader)."""
    catalog = await make_catalog(env.api, env.admin_token, providers=PROVIDERS)
    slots = await add_slots(env.database_url, catalog, per_provider=SLOTS_PER_PROVIDER)
    [token], questions = await register_clients(env, 1), questions_for(catalog)
    write_rate = max(rate * WRITE_SHARE, 0.5)
    writes = min(int(write_rate * seconds), len(slots))
    to_book = [slots[(n * 37) % len(slots)] for n in range(writes)]  # spread over providers and hours
    answered: list[str] = []
    searches = prepared_searches(env, token, questions)
    for question in questions:  # cached reads: each question asked once before, as by the readers before this second
        await _answer(env, token, question)
    before, applied_before = await _cache_counts(env), await _confirmations_applied(env)
    async with env.meter.measuring():
        reads, booked = await asyncio.gather(
            open_loop("availability_cached_reads", lambda n: _read(env, searches[n % len(searches)]),
                      rate, int(rate * seconds), seconds * 3),
            open_loop("availability_bookings", lambda n: _book(env, to_book[n], answered), write_rate, writes,
                      seconds * 3),
        )
    after = await _cache_counts(env)
    delta = {outcome: after.get(outcome, 0.0) - before.get(outcome, 0.0) for outcome in ("hit", "miss", "error")}
    looked_up = sum(delta.values())
    facts = {"cache_hit_ratio": round(delta["hit"] / looked_up, 4) if looked_up else None,
             "cache_outcomes": delta, "questions": len(questions), "bookings": dict(booked.statuses)}
    invariants = await check(env.database_url, answered)
    invariants["I2_booked_slot_still_listed"] = await _still_listed(env, token, catalog, answered, applied_before)
    return ScenarioResult(reads, facts, invariants)
