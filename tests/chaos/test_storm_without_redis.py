"""(14) A storm of SMARTSLOT_CHAOS_STORM_CLIENTS clients (10,000 by default) on one slot with Redis down: every
service that uses Redis (gateway, booking, availability) reaches it through one proxy, which refuses connections
for the whole storm. Booking runs in database-only mode: exactly one client books the slot, every other one is told
409, nobody gets a 5xx, and bookings of other slots go on. The winner's confirmation is published and emailed once.

Each client is an identity of its own (a token signed with the stack's key, as at sign-in); 150 of them call at a
time. On a loaded two-core machine 10,000 takes minutes: `SMARTSLOT_CHAOS_STORM_CLIENTS=1000` for a quicker look."""

from __future__ import annotations

import os
import time

import pytest

from .harness import (
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    clients,
    slots,
)
from .storm import minted_tokens, storm

STORM_CLIENTS = int(os.environ.get("SMARTSLOT_CHAOS_STORM_CLIENTS", "10000"))
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300 + STORM_CLIENTS // 10)]
OTHERS = 4


async def test_14_a_storm_with_redis_down_has_one_winner_and_no_5xx() -> None:
    async with chaos_stack(proxied={"redis": ("gateway", "booking", "availability")}) as chaos:
        hot, *others = await slots(chaos.api, chaos.admin, 1 + OTHERS)
        regulars = await clients(chaos.api, OTHERS)
        tokens = minted_tokens(chaos, STORM_CLIENTS)
        recorder = Recorder()

        await chaos.proxies["redis"].cut()  # down before the storm and all through it: refused, not slow
        started = time.monotonic()
        await storm(chaos, recorder, tokens, "/v1/appointments", {"slot_id": hot})
        took = time.monotonic() - started
        statuses = recorder.statuses()
        print(f"{STORM_CLIENTS} clients in {took:.1f} s without Redis: {dict(statuses)}")
        assert statuses == {201: 1, 409: STORM_CLIENTS - 1}, statuses
        codes = {answer.code for _, status, answer in recorder.answers if status == 409 and answer is not None}
        assert codes <= {"slot_unavailable", "slot_held"}, codes

        # Still without Redis: other slots are booked, and the hot one is still refused.
        booked = [await recorder.call(chaos.api, "POST", "/v1/appointments", token, {"slot_id": slot_id})
                  for token, slot_id in zip(regulars, others, strict=True)]
        assert [answer.status for answer in booked if answer] == [201] * OTHERS, [
            (answer.status, answer.body) for answer in booked if answer]
        again = await recorder.call(chaos.api, "POST", "/v1/appointments", regulars[0], {"slot_id": hot})
        assert again is not None, recorder.answers[-1]
        assert again.status == 409, again

        rows = await chaos.db.fetch("SELECT id::text AS id, status FROM booking.appointments WHERE slot_id = $1::uuid",
                                    hot)
        winner = recorder.created_ids()[0]
        assert [(row["id"], row["status"]) for row in rows] == [(winner, "confirmed")], rows
        await chaos.proxies["redis"].restore()
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        assert recorder.statuses().keys() <= {201, 409}, recorder.statuses()  # no 5xx at all, fault or not
        await assert_each_confirmation_published_and_emailed_once(
            chaos, [winner, *(answer.body["id"] for answer in booked if answer)], timeout=120)
