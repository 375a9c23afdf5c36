"""Confirmation → email received: instant bookings through the gateway, each followed until its email lands in
the local SMTP sink (the sink stamps the arrival time on every message it saves). The email's latency is reported
twice: from the booking's intended start, and from its `201` answer."""

from __future__ import annotations

import time

import orjson
from hdrh.histogram import HdrHistogram

from bench.catalog import add_slots, make_catalog
from bench.driver import HIGHEST_US, LOWEST_US, SIGNIFICANT_FIGURES, open_loop
from bench.environment import BenchEnvironment
from bench.invariants import check
from bench.scenarios.booking import ScenarioResult
from bench.scenarios.clients import register_clients
from bench.scenarios.mail import Arrivals
from smartslot_common.testing import wait_for

CLIENTS = 20


def _histogram(arrivals: dict[str, float], since: dict[str, float]) -> HdrHistogram:
    """Each email's arrival after its appointment's moment in `since`."""
    waited = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
    for appointment_id, start in since.items():
        waited.record_value(max(LOWEST_US, int((arrivals[appointment_id] - start) * 1_000_000)))
    return waited


async def confirmation_emails(env: BenchEnvironment, rate: float, seconds: float) -> ScenarioResult:
    """`POST /v1/appointments` through the gateway at `rate`/s; latency of the booking, then of its email."""
    tokens = await register_clients(env, CLIENTS)
    catalog = await make_catalog(env.api, env.admin_token, providers=10)
    count = int(rate * seconds)
    slots = await add_slots(env.database_url, catalog, per_provider=count // 10 + 1)
    started_at: dict[str, float] = {}
    answered_at: dict[str, float] = {}
    url = env.url("gateway") + "/v1/appointments"
    headers = [{"Authorization": f"Bearer {token}", "Content-Type": "application/json"} for token in tokens]

    async def book(number: int) -> int:
        intended = time.time()
        status, body = await env.client.request("POST", url, orjson.dumps({"slot_id": str(slots[number])}),
                                                headers[number % CLIENTS])
        if status == 201:
            appointment_id = orjson.loads(body)["id"]
            started_at[appointment_id], answered_at[appointment_id] = intended, time.time()
        return status

    arrivals = Arrivals(env.mail_dir)

    async def all_arrived() -> dict[str, float]:
        times = arrivals.poll()
        return times if started_at.keys() <= times.keys() else {}

    async with env.meter.measuring():  # a booking's unit of work ends when its email has arrived
        outcome = await open_loop("confirmation_to_email (booking leg)", book, rate, count, seconds * 3)
        await wait_for(all_arrived, 120, interval=0.1, what="every confirmation email")
    emails, after_201 = _histogram(arrivals.times, started_at), _histogram(arrivals.times, answered_at)
    facts = {
        "bookings": len(started_at), "emails": len(started_at.keys() & arrivals.times.keys()),  # this run's only
        "email_p50_ms": emails.get_value_at_percentile(50) / 1000,
        "email_p99_ms": emails.get_value_at_percentile(99) / 1000,
        "email_max_ms": emails.get_max_value() / 1000,
        "email_after_201_p50_ms": after_201.get_value_at_percentile(50) / 1000,
        "email_after_201_p99_ms": after_201.get_value_at_percentile(99) / 1000,
    }
    return ScenarioResult(outcome, facts, await check(env.database_url, list(started_at)))
