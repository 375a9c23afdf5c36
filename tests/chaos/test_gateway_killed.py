"""(13) The gateway killed with -9 while bookings are in flight through it: every client retries its booking with the
same Idempotency-Key until it gets an answer, and each converges on one appointment, the same one its first answer
named when there was a first answer.

Booking reaches PostgreSQL through a slow proxy, so a burst of instant bookings is still in the services when the
kill comes: some clients have their 201, the rest see their connection reset. After the restart every client sends
its request again with its key: a booking that committed is replayed (same id, `Idempotent-Replayed: true`), one
that did not is made now. Each slot ends with exactly one appointment, each emailed once."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from smartslot_common.api_client import Answer
from smartslot_common.testing import wait_for

from .harness import (
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    clients,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]
BOOKINGS = 24
RETRY_SECONDS = 120.0


async def test_13_a_gateway_killed_mid_request_converges_on_retries_with_the_same_key() -> None:
    async with chaos_stack(proxied={"postgres": ("booking",)}) as chaos:
        tokens = await clients(chaos.api, BOOKINGS)
        slot_ids = await slots(chaos.api, chaos.admin, BOOKINGS)
        keys = [str(uuid.uuid4()) for _ in slot_ids]
        recorder = Recorder()
        chaos.proxies["postgres"].delay(0.03)  # every statement of booking's is slow: requests pile up in flight

        async def book(index: int) -> Answer | None:
            return await recorder.call(chaos.api, "POST", "/v1/appointments", tokens[index],
                                       {"slot_id": slot_ids[index]}, {"Idempotency-Key": keys[index]})

        burst = asyncio.gather(*(book(index) for index in range(BOOKINGS)))

        async def some_answered() -> bool:
            if burst.done():
                raise AssertionError(f"every booking answered before the kill: {recorder.statuses()}")
            return recorder.statuses()[201] >= 2

        await wait_for(some_answered, 120, interval=0.005, what="the burst's first bookings to answer")
        recorder.fault_opens()
        chaos.services.kill("gateway")
        first = await burst
        chaos.proxies["postgres"].delay(0)
        await chaos.restart("gateway")
        recorder.fault_closes(grace=5.0)

        statuses = recorder.statuses()
        lost = [index for index, answer in enumerate(first) if answer is None]
        assert lost, statuses  # the kill caught requests in flight
        assert statuses.keys() <= {201, "ServerDisconnectedError", "ClientOSError", "ClientConnectorError"}, statuses

        async def converged(index: int) -> Answer:
            """The client's retry: the same request and key, again until it is answered (not in flight any more)."""
            deadline = time.monotonic() + RETRY_SECONDS
            while True:
                answer = await book(index)
                if answer is not None and answer.code != "idempotency_in_flight":
                    return answer
                assert time.monotonic() < deadline, (index, recorder.answers[-1])
                await asyncio.sleep(0.2)  # a client's pause between retries, not synchronisation

        retried = await asyncio.gather(*(converged(index) for index in range(BOOKINGS)))
        assert [answer.status for answer in retried] == [201] * BOOKINGS, [(a.status, a.body) for a in retried]
        for index, (before, after) in enumerate(zip(first, retried, strict=True)):
            if before is not None:  # answered before the kill: the retry replays that very appointment
                assert after.body["id"] == before.body["id"], (index, before.body, after.body)
                assert after.headers.get("Idempotent-Replayed") == "true", (index, after.headers)

        # One appointment per slot, the one the client was finally told about.
        rows = await chaos.db.fetch(
            "SELECT slot_id::text AS slot, id::text AS id, status FROM booking.appointments "
            "WHERE slot_id = ANY($1::uuid[])", slot_ids)
        stored = sorted((row["slot"], row["id"], row["status"]) for row in rows)
        assert stored == sorted((slot_id, answer.body["id"], "confirmed")
                                for slot_id, answer in zip(slot_ids, retried, strict=True)), stored
        replayed = sum(1 for index in lost if retried[index].headers.get("Idempotent-Replayed") == "true")
        print(f"killed with {len(lost)} of {BOOKINGS} in flight; {replayed} of those had committed and were replayed")

        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        await assert_each_confirmation_published_and_emailed_once(chaos, [answer.body["id"] for answer in retried])
