"""(9) Double cancel, and cancel racing confirm: a seat comes free once, so there is one `slot.released` and one
offer chain down the waitlist.

Every slot has two clients waiting on it. For half the slots, a confirmed appointment is cancelled three times at
once (twice by its client, once by an admin): one cancel wins, the others are told 409. For the other half, a held
appointment is confirmed and cancelled at once by its client: whichever lands first, the appointment ends cancelled.
Afterwards each slot has exactly one `slot.released` in booking's outbox, the waitlist took one seat from it and
offered it to the first waiting client only, and every email (confirmation, cancellation, offer) went out once."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from smartslot_common.testing import wait_for

from .harness import (
    Chaos,
    Client,
    Recorder,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    client_accounts,
    emails_by_appointment,
    gather_all,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]
DOUBLE, RACED = 8, 8  # slots whose appointment is cancelled thrice at once; slots held, then confirmed and cancelled
# One pair of waiting clients waits on every slot, and is offered all of them: lift the per-client caps.
CAPS = {"SMARTSLOT_WAITLIST_MAX_LIVE_ENTRIES": "1000", "SMARTSLOT_BOOKING_MAX_LIVE_HOLDS": "1000"}


async def _released(chaos: Chaos, slot_ids: list[str]) -> Counter:
    rows = await chaos.db.fetch(
        "SELECT envelope->'payload'->>'slot_id' AS slot FROM booking.outbox WHERE event_type = 'slot.released' "
        "AND envelope->'payload'->>'slot_id' = ANY($1::text[])", slot_ids)
    return Counter(row["slot"] for row in rows)


async def _offers(chaos: Chaos, slot_ids: list[str]) -> list[tuple[str, uuid.UUID, str]]:
    rows = await chaos.db.fetch(
        "SELECT slot_id::text AS slot, client_id, status FROM waitlist.offers WHERE slot_id = ANY($1::uuid[])",
        slot_ids)
    return sorted((row["slot"], row["client_id"], row["status"]) for row in rows)


async def assert_every_email_sent_once(chaos: Chaos, timeout: float = 120) -> None:
    """Every email delivery the notifier queued is sent, one per appointment and kind, one message each in the
    sink."""

    async def all_sent() -> bool:
        pending = await chaos.db.fetchval(
            "SELECT count(*) FROM notifier.deliveries WHERE channel = 'email' AND status <> 'sent'")
        mailed = sum(emails_by_appointment(chaos.mail_dir).values())
        total = await chaos.db.fetchval("SELECT count(*) FROM notifier.deliveries WHERE channel = 'email'")
        return pending == 0 and mailed >= total

    await wait_for(all_sent, timeout, interval=0.2, what="every email to be sent")
    rows = await chaos.db.fetch(
        "SELECT appointment_id::text AS appointment, kind, count(*) AS n FROM notifier.deliveries "
        "WHERE channel = 'email' GROUP BY 1, 2")
    assert all(row["n"] == 1 for row in rows), [dict(row) for row in rows if row["n"] != 1]
    per_appointment = Counter()
    for row in rows:
        per_appointment[row["appointment"]] += 1
    assert emails_by_appointment(chaos.mail_dir) == per_appointment, (emails_by_appointment(chaos.mail_dir),
                                                                     per_appointment)


async def test_9_double_cancels_and_cancel_racing_confirm_free_a_seat_once() -> None:
    async with chaos_stack(**CAPS) as chaos:
        owners = await client_accounts(chaos.api, DOUBLE + RACED)
        first, second = await client_accounts(chaos.api, 2)
        slot_ids = await slots(chaos.api, chaos.admin, DOUBLE + RACED)
        service_id = str(await chaos.db.fetchval(
            "SELECT service_id FROM booking.slots WHERE id = $1::uuid", slot_ids[0]))
        recorder = Recorder()

        async def call(who: str, method: str, path: str, body: dict | None = None):
            answer = await recorder.call(chaos.api, method, path, who, body or {})
            assert answer is not None, recorder.answers[-1]
            return answer

        # The appointments: confirmed ones for the double cancels, holds for the cancel-versus-confirm races.
        taken = await gather_all(*(
            call(owner.token, "POST", "/v1/appointments" if index < DOUBLE else "/v1/holds", {"slot_id": slot_id})
            for index, (owner, slot_id) in enumerate(zip(owners, slot_ids, strict=True))))
        assert [answer.status for answer in taken] == [201] * len(slot_ids), [(a.status, a.body) for a in taken]
        appointments = [answer.body["id"] for answer in taken]
        for waiting in (first, second):  # in this order: `first` is ahead in every slot's queue
            for slot_id in slot_ids:
                # Not recorded: the recorder takes every 201 for an appointment (I2), and an entry is none.
                joined = await chaos.api.call("POST", "/v1/waitlist", waiting.token,
                                              {"service_id": service_id, "slot_id": slot_id})
                assert joined.status == 201, joined

        async def cancel_thrice(owner: Client, appointment: str) -> list[int]:
            path = f"/v1/appointments/{appointment}/cancel"
            answers = await gather_all(call(owner.token, "POST", path), call(owner.token, "POST", path),
                                       call(chaos.admin, "POST", path))
            return sorted(answer.status for answer in answers)

        async def confirm_and_cancel(owner: Client, appointment: str) -> tuple[int, int]:
            confirmed, cancelled = await gather_all(
                call(owner.token, "POST", f"/v1/appointments/{appointment}/confirm"),
                call(owner.token, "POST", f"/v1/appointments/{appointment}/cancel"))
            return confirmed.status, cancelled.status

        doubles = gather_all(*(cancel_thrice(owner, appointment)
                               for owner, appointment in zip(owners[:DOUBLE], appointments[:DOUBLE], strict=True)))
        races = gather_all(*(confirm_and_cancel(owner, appointment)
                             for owner, appointment in zip(owners[DOUBLE:], appointments[DOUBLE:], strict=True)))
        double_statuses, race_statuses = await gather_all(doubles, races)
        assert double_statuses == [[200, 409, 409]] * DOUBLE, double_statuses
        # Confirm first: then the cancel cancels a confirmed appointment. Cancel first: the confirm is refused.
        assert all(cancelled == 200 and confirmed in (200, 409) for confirmed, cancelled in race_statuses), (
            race_statuses)
        statuses = await chaos.db.fetch(
            "SELECT status, count(*) AS n FROM booking.appointments WHERE id = ANY($1::uuid[]) GROUP BY 1",
            appointments)
        assert {row["status"]: row["n"] for row in statuses} == {"cancelled": len(appointments)}, statuses

        # One seat freed per slot: one slot.released, one walk down the queue, one offer, to the first in line.
        assert await _released(chaos, slot_ids) == Counter(dict.fromkeys(slot_ids, 1))

        async def offered() -> bool:
            return [status for _, _, status in await _offers(chaos, slot_ids)] == ["pending"] * len(slot_ids)

        await wait_for(offered, 120, interval=0.2, what="one pending offer per slot")

        async def released_applied() -> int:
            return await chaos.db.fetchval(
                "SELECT count(*) FROM waitlist.inbox i JOIN booking.outbox o ON o.id = i.event_id "
                "WHERE o.event_type = 'slot.released'")

        await wait_for(lambda: _equals(released_applied, len(slot_ids)), 60, interval=0.2,
                       what="the waitlist to apply every slot.released")
        seats = await chaos.db.fetch(
            "SELECT slot_id::text AS slot, count(*) AS n FROM waitlist.seats WHERE slot_id = ANY($1::uuid[]) "
            "GROUP BY 1", slot_ids)
        assert {row["slot"]: row["n"] for row in seats} == dict.fromkeys(slot_ids, 1), seats
        assert await _offers(chaos, slot_ids) == sorted((slot_id, first.id, "pending") for slot_id in slot_ids)

        # Every event booking wrote is published, once per change; every email went out once.
        async def published() -> bool:
            return await chaos.db.fetchval("SELECT count(*) FROM booking.outbox WHERE published_at IS NULL") == 0

        await wait_for(published, 60, interval=0.2, what="booking's outbox to drain")
        events = await chaos.db.fetch(
            "SELECT event_type, envelope->'payload'->>'appointment_id' AS appointment, count(*) AS n "
            "FROM booking.outbox WHERE envelope->'payload'->>'appointment_id' = ANY($1::text[]) GROUP BY 1, 2",
            appointments)
        assert all(row["n"] == 1 for row in events), [dict(row) for row in events]
        confirmed_in_race = sum(1 for confirmed, _ in race_statuses if confirmed == 200)
        by_type = Counter(row["event_type"] for row in events)
        assert (by_type["appointment.cancelled"], by_type["slot.released"]) == (len(slot_ids), len(slot_ids)), by_type
        assert by_type["appointment.confirmed"] == DOUBLE + confirmed_in_race, by_type
        await assert_every_email_sent_once(chaos)
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        assert recorder.statuses().keys() <= {200, 201, 409}, recorder.statuses()


async def _equals(read, expected: int) -> bool:
    return await read() == expected
