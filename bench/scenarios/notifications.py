"""Confirmation → email received: instant bookings through the gateway, each followed until its email lands in
the local SMTP sink (the sink stamps the arrival time on every message it saves)."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import datetime
from pathlib import Path

from hdrh.histogram import HdrHistogram

from bench.catalog import add_slots, make_catalog
from bench.driver import HIGHEST_US, LOWEST_US, SIGNIFICANT_FIGURES, open_loop
from bench.environment import BenchEnvironment
from bench.invariants import check
from bench.scenarios.booking import ScenarioResult
from bench.scenarios.clients import register_clients
from smartslot_common.testing import wait_for

CLIENTS = 20


def _arrivals(mail_dir: Path) -> dict[str, float]:
    """Appointment id → arrival time (epoch seconds) of its confirmation email."""
    arrivals = {}
    for path in mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["X-SmartSlot-Kind"] == "confirmation":
            arrived = datetime.fromisoformat(message["X-Mailsink-Received-At"]).timestamp()
            arrivals[message["X-SmartSlot-Appointment-Id"]] = arrived
    return arrivals


async def confirmation_emails(env: BenchEnvironment, rate: float, seconds: float) -> ScenarioResult:
    """`POST /v1/appointments` through the gateway at `rate`/s; latency of the booking, then of its email."""
    tokens = await register_clients(env, CLIENTS)
    catalog = await make_catalog(env.api, env.admin_token, providers=10)
    count = int(rate * seconds)
    slots = await add_slots(env.database_url, catalog, per_provider=count // 10 + 1)
    started_at: dict[str, float] = {}

    async def book(number: int) -> int:
        intended = time.time()
        answer = await env.api.call("POST", "/v1/appointments", tokens[number % CLIENTS],
                                    {"slot_id": str(slots[number])})
        if answer.status == 201:
            started_at[answer.body["id"]] = intended
        return answer.status

    outcome = await open_loop("confirmation_to_email (booking leg)", book, rate, count, seconds * 3)

    async def all_arrived() -> dict[str, float]:
        arrivals = _arrivals(env.mail_dir)
        return arrivals if started_at.keys() <= arrivals.keys() else {}

    arrivals = await wait_for(all_arrived, 120, interval=0.5, what="every confirmation email")
    emails = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
    for appointment_id, start in started_at.items():
        emails.record_value(max(LOWEST_US, int((arrivals[appointment_id] - start) * 1_000_000)))
    facts = {
        "bookings": len(started_at), "emails": len(started_at.keys() & arrivals.keys()),  # this run's only
        "email_p50_ms": emails.get_value_at_percentile(50) / 1000,
        "email_p99_ms": emails.get_value_at_percentile(99) / 1000,
        "email_max_ms": emails.get_max_value() / 1000,
    }
    return ScenarioResult(outcome, facts, await check(env.database_url, list(started_at)))
