"""(8) Claim versus expiry, SMARTSLOT_CHAOS_CLAIM_RUNS times (1,000 by default) on one whole stack: a waitlist offer
confirmed by its client at its deadline, give or take a random jitter. Booking decides on its database clock; the
waitlist must agree every time: each run ends accepted (the first client booked, the second never offered) or expired
with the second client offered, never both and never neither, nobody offered twice.

Each run is a slot of its own: booked, two clients waiting on it, the booking cancelled, the first client's offer
(SMARTSLOT_OFFER_TTL_SECONDS=2) confirmed between JITTER_SECONDS before and after its deadline. RUNS_AT_ONCE runs go
on side by side. On the loaded two-core machine 1,000 runs take several minutes: `SMARTSLOT_CHAOS_CLAIM_RUNS=100` for
a quicker look."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from smartslot_common.testing import wait_for

from .harness import (
    Chaos,
    Client,
    Recorder,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    client_accounts,
    slots,
)
from .test_cancel_races import assert_every_email_sent_once

RUNS = int(os.environ.get("SMARTSLOT_CHAOS_CLAIM_RUNS", "1000"))
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600 + RUNS)]
RUNS_AT_ONCE = 40
JITTER_SECONDS = 0.15
CLIENTS = 20  # of each kind: owners, first and second in line (each in many runs)
SETTINGS = {
    "SMARTSLOT_OFFER_TTL_SECONDS": "2",
    "SMARTSLOT_WAITLIST_MAX_LIVE_ENTRIES": "100000",
    "SMARTSLOT_BOOKING_MAX_LIVE_HOLDS": "100000",
}
REACHED = ("pending", "accepted", "expired")


async def _more_slots(chaos: Chaos, first_slot: str, count: int) -> list[str]:
    """`count` slots more of the first one's provider and service, an hour apart after it."""
    row = await chaos.db.fetchrow("SELECT provider_id, service_id, starts_at FROM booking.slots WHERE id = $1::uuid",
                                  first_slot)
    gate = asyncio.Semaphore(20)

    async def one(index: int) -> str:
        async with gate:
            answer = await chaos.api.call("POST", f"/v1/providers/{row['provider_id']}/slots", chaos.admin, {
                "service_id": str(row["service_id"]),
                "starts_at": (row["starts_at"] + timedelta(hours=index)).isoformat()})
        assert answer.status == 201, answer
        return str(answer.body["id"])

    return list(await asyncio.gather(*(one(index) for index in range(1, count + 1))))


async def test_8_a_claim_at_the_deadline_ends_accepted_or_reoffered_never_both() -> None:
    async with chaos_stack(**SETTINGS) as chaos, asyncpg.create_pool(chaos.database_url, min_size=1,
                                                                     max_size=3) as db:
        everyone = await client_accounts(chaos.api, 3 * CLIENTS)
        owners, firsts, seconds = everyone[:CLIENTS], everyone[CLIENTS:2 * CLIENTS], everyone[2 * CLIENTS:]
        [first_slot] = await slots(chaos.api, chaos.admin, 1)
        slot_ids = [first_slot, *await _more_slots(chaos, first_slot, RUNS - 1)]
        service_id = str(await chaos.db.fetchval("SELECT service_id FROM booking.slots WHERE id = $1::uuid",
                                                 first_slot))
        recorder = Recorder()
        rng = random.Random(os.environ.get("SMARTSLOT_CHAOS_SEED", "8"))
        gate = asyncio.Semaphore(RUNS_AT_ONCE)
        outcomes: Counter = Counter()

        async def call(who: str, method: str, path: str, body: dict):
            answer = await recorder.call(chaos.api, method, path, who, body)
            assert answer is not None, recorder.answers[-1]
            return answer

        async def offer_of(slot_id: str, client: Client) -> asyncpg.Record | None:
            return await db.fetchrow(
                "SELECT appointment_id, deadline FROM waitlist.offers WHERE slot_id = $1::uuid AND client_id = $2 "
                "AND status = 'pending'", slot_id, client.id)

        async def settled(slot_id: str) -> bool:
            row = await db.fetchrow(
                "SELECT count(*) AS seats, count(*) FILTER (WHERE status = 'done') AS done, "
                "(SELECT count(*) FROM waitlist.offers WHERE slot_id = $1::uuid "
                " AND status IN ('requesting', 'pending')) AS live FROM waitlist.seats WHERE slot_id = $1::uuid",
                slot_id)
            return row["seats"] > 0 and row["seats"] == row["done"] and row["live"] == 0

        async def run(number: int, slot_id: str) -> None:
            owner, a, b = owners[number % CLIENTS], firsts[number % CLIENTS], seconds[number % CLIENTS]
            offset = rng.uniform(-JITTER_SECONDS, JITTER_SECONDS)
            async with gate:
                booked = await call(owner.token, "POST", "/v1/appointments", {"slot_id": slot_id})
                assert booked.status == 201, booked
                for who in (a, b):  # a first: a is offered first
                    joined = await chaos.api.call("POST", "/v1/waitlist", who.token,
                                                  {"service_id": service_id, "slot_id": slot_id})
                    assert joined.status == 201, joined
                cancelled = await call(owner.token, "POST", f"/v1/appointments/{booked.body['id']}/cancel", {})
                assert cancelled.status == 200, cancelled
                offer = await wait_for(lambda: offer_of(slot_id, a), 120, interval=0.05,
                                       what=f"run {number}: the first client's offer")
                # The race itself: aim the confirmation at the deadline (database clock, same machine).
                await asyncio.sleep(max(0.0, (offer["deadline"] - datetime.now(UTC)).total_seconds() + offset))
                confirmed = await call(a.token, "POST", f"/v1/appointments/{offer['appointment_id']}/confirm", {})
                assert confirmed.status in (200, 410), (number, confirmed)
                await wait_for(lambda: settled(slot_id), 120, interval=0.1, what=f"run {number} to settle")

            offers = await db.fetch(
                "SELECT client_id, status, appointment_id FROM waitlist.offers WHERE slot_id = $1::uuid "
                "AND status = ANY($2::text[]) ORDER BY offered_at", slot_id, list(REACHED))
            story = (number, round(offset, 3), confirmed.status, [(row["client_id"] == a.id, row["status"])
                                                                  for row in offers])
            by_client = Counter(row["client_id"] for row in offers)
            claimed = any(row["client_id"] == a.id and row["status"] == "accepted" for row in offers)
            reoffered = by_client[b.id] > 0
            assert claimed != reoffered, story  # never both, never neither
            assert max(by_client.values()) == 1, story  # nobody offered twice
            assert claimed == (confirmed.status == 200), story  # the waitlist agrees with booking's answer
            a_hold = await db.fetchval("SELECT status FROM booking.appointments WHERE id = $1::uuid",
                                       offer["appointment_id"])
            assert a_hold == ("confirmed" if claimed else "expired"), (story, a_hold)
            outcomes["accepted" if claimed else "expired, next client offered"] += 1

        started = time.monotonic()
        await asyncio.gather(*(run(number, slot_id) for number, slot_id in enumerate(slot_ids)))
        print(f"{RUNS} runs in {time.monotonic() - started:.0f} s: {dict(outcomes)}")
        assert sum(outcomes.values()) == RUNS
        assert len(outcomes) == 2, outcomes  # the jitter straddles the deadline: both endings happen

        await assert_every_email_sent_once(chaos, timeout=300)
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        assert recorder.statuses().keys() <= {200, 201, 410}, recorder.statuses()
