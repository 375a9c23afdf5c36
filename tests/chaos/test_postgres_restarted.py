"""(2) PostgreSQL "restarted" during bookings. The server is shared with other runs on this machine, so it is never
really restarted: every service of the stack reaches it through a proxy that is cut (new connections refused, live
ones reset) while the stack's own sessions are terminated (`pg_terminate_backend`, this run's database only), as a
restart would end them; a few seconds later the proxy forwards again.

While it is down, bookings fail fast with `503 upstream_unavailable`, never a 500 and never a hang; nothing is
half-written (every appointment has its outbox row, a retry with the request's Idempotency-Key converges); and once it
is back the services, never restarted, book, publish and email again."""

from __future__ import annotations

import time
import uuid

import pytest

from booking import invariants
from smartslot_common.testing import wait_for

from .harness import (
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    clients,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]
SERVICES = ("gateway", "booking", "availability", "waitlist", "notifier")
BEFORE, DURING, AFTER = 3, 6, 3  # bookings before, while and after PostgreSQL is down, each on a slot of its own
DOWN_SECONDS = 4.0
# A booking while PostgreSQL is down must be refused quickly, not wait for a timeout; generous for a loaded machine.
FAIL_FAST_SECONDS = 5.0
# This run's sessions, as a restart would end them: the test's own connection (the checker's) is spared.
TERMINATE = """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"""


async def test_2_postgres_down_fails_fast_with_503_and_the_stack_recovers_by_itself() -> None:
    async with chaos_stack(proxied={"postgres": SERVICES}) as chaos:
        tokens = await clients(chaos.api, 4)
        slot_ids = iter(await slots(chaos.api, chaos.admin, BEFORE + DURING + AFTER + 1))
        pids = {name: service.process.pid for name, service in chaos.services.services.items() if service.process}
        recorder = Recorder()
        keys: dict[str, tuple[str, str]] = {}  # Idempotency-Key -> (token, slot id) of every booking asked for
        answered: set[str] = set()  # the keys answered 201

        async def book(index: int, slot_id: str, key: str | None = None):
            key = key or str(uuid.uuid4())
            token = tokens[index % len(tokens)]
            keys[key] = (token, slot_id)
            answer = await recorder.call(chaos.api, "POST", "/v1/appointments", token, {"slot_id": slot_id},
                                         {"Idempotency-Key": key})
            if answer is not None and answer.status == 201:
                answered.add(key)
            return answer

        for index in range(BEFORE):
            answer = await book(index, next(slot_ids))
            assert answer is not None, recorder.statuses()
            assert answer.status == 201, (answer, recorder.statuses())

        recorder.fault_opens()
        # As a restart does: the sessions are ended (each client is told so), then connections are refused.
        terminated = await chaos.db.fetchval(TERMINATE)
        await chaos.proxies["postgres"].cut()
        assert terminated >= 1, terminated  # the stack's pools were connected: a restart would have ended them
        down_since = time.monotonic()
        refused = []
        for index in range(DURING):
            asked = time.monotonic()
            answer = await book(index, next(slot_ids))
            took = time.monotonic() - asked
            assert answer is not None, recorder.answers[-1]
            assert (answer.status, answer.code) == (503, "upstream_unavailable"), answer
            assert took < FAIL_FAST_SECONDS, (took, answer)
            refused.append(answer)
        # Down for a while, as a restart is: the bookings above took what they took; the rest of the outage passes.
        await wait_for(lambda: _elapsed(down_since, DOWN_SECONDS), DOWN_SECONDS + 1, interval=0.1,
                       what="the outage to last its few seconds")
        await chaos.proxies["postgres"].restore()

        # The services come back by themselves (never restarted): a booking is taken again.
        recovery_slot, recovery_key = next(slot_ids), str(uuid.uuid4())

        async def booking_again() -> bool:
            answer = await book(0, recovery_slot, key=recovery_key)
            return answer is not None and answer.status == 201

        await wait_for(booking_again, 60, interval=0.5, what="bookings to be taken again after PostgreSQL is back")
        recorder.fault_closes()
        assert all(service.process and service.process.pid == pids[name] and service.process.poll() is None
                   for name, service in chaos.services.services.items()), "a service exited or was restarted"

        for index in range(AFTER):
            answer = await book(index, next(slot_ids))
            assert answer is not None, recorder.statuses()
            assert answer.status == 201, (answer, recorder.statuses())

        # Nothing half-written: every request refused during the outage, retried with its key, converges to one
        # appointment (PostgreSQL kept nothing of it, or kept all of it and the retry replays it).
        for key, (token, slot_id) in list(keys.items()):
            if key in answered:
                continue
            again = await recorder.call(chaos.api, "POST", "/v1/appointments", token, {"slot_id": slot_id},
                                        {"Idempotency-Key": key})
            assert again is not None, recorder.answers[-1]
            assert again.status == 201, (again, slot_id)
        booked = await chaos.db.fetch("SELECT slot_id, count(*) AS n FROM booking.appointments GROUP BY 1")
        assert {str(row["slot_id"]): row["n"] for row in booked} == {slot_id: 1 for _, slot_id in keys.values()}
        assert await invariants.appointments_without_event(chaos.db) == 0
        confirmed = sorted({answer.body["id"] for _, status, answer in recorder.answers if status == 201 and answer})
        assert len(confirmed) == len(keys), (len(confirmed), len(keys))
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        await assert_each_confirmation_published_and_emailed_once(chaos, confirmed, timeout=120)
        assert recorder.statuses().keys() <= {201, 503}, recorder.statuses()


async def _elapsed(since: float, seconds: float) -> bool:
    return time.monotonic() - since >= seconds
