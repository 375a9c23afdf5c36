"""(10) The waitlist process killed with -9 mid-cascade: no offer skipped, none repeated.

Five clients wait on each of a few booked slots; the bookings are cancelled and each freed seat walks down its
queue, one short offer (SMARTSLOT_OFFER_TTL_SECONDS) at a time, nobody claiming. Once the walks are under way the
waitlist process is killed, and kept dead until an offer it made is past its deadline (its sweeper had work to do
and was not there); then it is started again. Each slot's offers reached its five clients exactly once each, in
queue order (offer rows and `waitlist.offer_made` events alike), every hold made for them expired, the seat went back
to the public at the end of the queue, and each offer was emailed once."""

from __future__ import annotations

import pytest

from smartslot_common.testing import wait_for

from .harness import (
    Chaos,
    Recorder,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    client_accounts,
    gather_all,
    slots,
)
from .test_cancel_races import assert_every_email_sent_once

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]
SLOTS, QUEUE = 3, 5
SETTINGS = {
    "SMARTSLOT_OFFER_TTL_SECONDS": "3",
    "SMARTSLOT_WAITLIST_MAX_LIVE_ENTRIES": "1000",
    "SMARTSLOT_BOOKING_MAX_LIVE_HOLDS": "1000",
    # A hold request in flight at the kill belongs to the dead process this long, then the sweeper re-sends it with
    # the same Idempotency-Key (must exceed the 5 s booking timeout).
    "SMARTSLOT_WAITLIST_REQUEST_LEASE_SECONDS": "8",
}
REACHED = ("pending", "accepted", "expired")  # an offer that reached its client (a refused request reached nobody)


async def _reached(chaos: Chaos) -> int:
    return await chaos.db.fetchval("SELECT count(*) FROM waitlist.offers WHERE status = ANY($1::text[])",
                                   list(REACHED))


async def test_10_the_waitlist_killed_mid_cascade_skips_and_repeats_no_offer() -> None:
    async with chaos_stack(**SETTINGS) as chaos:
        owners = await client_accounts(chaos.api, SLOTS)
        waiting = await client_accounts(chaos.api, QUEUE)
        slot_ids = await slots(chaos.api, chaos.admin, SLOTS)
        service_id = str(await chaos.db.fetchval(
            "SELECT service_id FROM booking.slots WHERE id = $1::uuid", slot_ids[0]))
        recorder = Recorder()
        booked = await gather_all(*(recorder.call(chaos.api, "POST", "/v1/appointments", owner.token,
                                                  {"slot_id": slot_id})
                                    for owner, slot_id in zip(owners, slot_ids, strict=True)))
        assert [answer.status for answer in booked if answer] == [201] * SLOTS, recorder.statuses()
        for client in waiting:  # in queue order, on every slot
            for slot_id in slot_ids:
                joined = await chaos.api.call("POST", "/v1/waitlist", client.token,
                                              {"service_id": service_id, "slot_id": slot_id})
                assert joined.status == 201, joined
        for owner, answer in zip(owners, booked, strict=True):
            assert answer is not None
            cancelled = await recorder.call(chaos.api, "POST", f"/v1/appointments/{answer.body['id']}/cancel",
                                            owner.token, {})
            assert cancelled is not None, recorder.answers[-1]
            assert cancelled.status == 200, cancelled

        async def under_way() -> bool:
            return await _reached(chaos) >= SLOTS + 2  # some slots are on their second client

        await wait_for(under_way, 120, interval=0.05, what="the cascades to be under way")
        recorder.fault_opens()
        chaos.services.kill("waitlist")
        reached_at_kill = await _reached(chaos)

        async def an_offer_overdue() -> bool:
            return await chaos.db.fetchval(
                "SELECT count(*) FROM waitlist.offers WHERE status = 'pending' AND deadline < now()") > 0

        await wait_for(an_offer_overdue, 60, interval=0.1, what="an offer to pass its deadline with nobody watching")
        await chaos.restart("waitlist")
        recorder.fault_closes()

        async def walks_done() -> bool:
            row = await chaos.db.fetchrow(
                "SELECT count(*) AS seats, count(*) FILTER (WHERE status = 'done') AS done FROM waitlist.seats")
            return row["seats"] == SLOTS and row["done"] == SLOTS

        await wait_for(walks_done, 60 + 3 * 3 * QUEUE, interval=0.2, what="every seat to walk its whole queue")
        assert reached_at_kill < SLOTS * QUEUE, reached_at_kill  # the kill came mid-cascade

        queue = [client.id for client in waiting]
        for slot_id in slot_ids:
            offers = await chaos.db.fetch(
                "SELECT client_id, status, appointment_id FROM waitlist.offers WHERE slot_id = $1::uuid "
                "AND status = ANY($2::text[]) ORDER BY offered_at", slot_id, list(REACHED))
            assert [row["client_id"] for row in offers] == queue, (slot_id, [dict(row) for row in offers])
            assert {row["status"] for row in offers} == {"expired"}, [dict(row) for row in offers]
            made = await chaos.db.fetch(
                "SELECT envelope->'payload'->>'client_id' AS client FROM waitlist.outbox "
                "WHERE event_type = 'waitlist.offer_made' AND envelope->'payload'->>'slot_id' = $1 "
                "ORDER BY created_at, seq", slot_id)
            assert [row["client"] for row in made] == [str(client) for client in queue], [dict(r) for r in made]
            holds = await chaos.db.fetch("SELECT status FROM booking.appointments WHERE id = ANY($1::uuid[])",
                                         [row["appointment_id"] for row in offers])
            assert [row["status"] for row in holds] == ["expired"] * QUEUE, holds
        seats = await chaos.db.fetch("SELECT status, outcome FROM waitlist.seats")
        assert [(row["status"], row["outcome"]) for row in seats] == [("done", "returned")] * SLOTS, seats
        entries = await chaos.db.fetch("SELECT status, count(*) AS n FROM waitlist.entries GROUP BY 1")
        assert {row["status"]: row["n"] for row in entries} == {"expired": SLOTS * QUEUE}, entries

        await assert_every_email_sent_once(chaos)
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        assert recorder.statuses().keys() <= {200, 201}, recorder.statuses()
