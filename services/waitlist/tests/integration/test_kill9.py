"""kill -9 of the waitlist process in the middle of cascades: after each restart nobody is skipped, nobody is
offered twice, and every slot ends claimed, offered to someone, or public.

Booking and the waitlist run as real processes (`python -m booking`, `python -m waitlist`) on this run's database,
vhost and key prefix, with OFFER_TTL_SECONDS=2.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from smartslot_common.testing import IsolatedStack, wait_for
from smartslot_common.testing.identity import signing_middleware
from smartslot_common.testing.processes import ServiceStack
from smartslot_common.testing.service_api import ServiceApi, make_catalog

from .conftest import Db, book, cancel_as_admin, client, future, join, new_slot

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[4]
SLOTS = 3
SETTINGS = {
    "SMARTSLOT_OFFER_TTL_SECONDS": "2",
    "SMARTSLOT_SWEEP_INTERVAL_SECONDS": "0.2",
    "SMARTSLOT_WAITLIST_BUFFER_SECONDS": "600",
    "SMARTSLOT_WAITLIST_REQUEST_LEASE_SECONDS": "2",
    "SMARTSLOT_WAITLIST_RECHECK_SECONDS": "0.5",
    "SMARTSLOT_WAITLIST_BOOKING_TIMEOUT_SECONDS": "1.5",
    "SMARTSLOT_DB_POOL_MAX_SIZE": "5",
    "SMARTSLOT_LOG_JSON": "false",
}


@pytest.fixture
async def processes(stack: IsolatedStack) -> AsyncIterator[ServiceStack]:
    services = ServiceStack(stack.env | SETTINGS, REPO_ROOT / "var" / "test-logs" / f"{stack.run_id}-waitlist-kill9")
    try:
        for name in ("booking", "waitlist"):
            services.start(name)
            await services.wait_ready(name)
        yield services
    finally:
        for name in ("waitlist", "booking"):
            services.stop(name)


async def _restart(services: ServiceStack) -> None:
    services.start("waitlist")
    await services.wait_ready("waitlist")


async def _all_made(db: Db, slots: list[str], count: int) -> bool:
    return all([len(await db.made(slot_id)) >= count for slot_id in slots])


async def _any_made(db: Db, slots: list[str], count: int) -> bool:
    return any([len(await db.made(slot_id)) >= count for slot_id in slots])


async def _all_settled(db: Db, slots: list[str]) -> bool:
    return all([await db.seats_done(slot_id) for slot_id in slots])


async def test_kill_9_mid_cascade_skips_nobody_offers_nobody_twice_and_strands_no_slot(
    processes: ServiceStack, db: Db
):
    async with aiohttp.ClientSession(middlewares=(signing_middleware(),)) as session:  # the run's key: theirs too
        booking = ServiceApi(session, processes.services["booking"].url)
        waitlist = ServiceApi(session, processes.services["waitlist"].url)
        catalog = await make_catalog(booking)
        slots, queues, bookings = [], {}, []
        for number in range(SLOTS):
            slot_id = await new_slot(booking, catalog, future(days=8, minutes=60 * number))
            bookings.append(await book(booking, slot_id))
            queue = [client(label) for label in ("a", "b", "c")]
            for who in queue:
                await join(waitlist, who, service_id=catalog.service_id, slot_id=slot_id)
            slots.append(slot_id)
            queues[slot_id] = queue
        for appointment in bookings:
            await cancel_as_admin(booking, appointment["id"])

        # First kill: every slot's first offer is open; booking expires those holds while the waitlist is dead.
        await wait_for(lambda: _all_made(db, slots, 1), timeout=10, what="the first offers")
        processes.kill("waitlist")
        first = [(await db.offers(slot_id))[0]["appointment_id"] for slot_id in slots]
        await wait_for(lambda: _expired(db, first), timeout=10, what="booking to expire the first holds")
        await _restart(processes)

        # Second kill: the moment the first second-round offer appears (others are mid-request), and straight back.
        await wait_for(lambda: _any_made(db, slots, 2), timeout=15, what="a second offer")
        processes.kill("waitlist")
        await _restart(processes)

        await wait_for(lambda: _all_settled(db, slots), timeout=30, what="every cascade to finish")

        for slot_id in slots:
            expected = [str(who.user_id) for who in queues[slot_id]]
            assert await db.made(slot_id) == expected, processes.services["waitlist"].log_tail()
            offered = [offer for offer in await db.offers(slot_id) if offer["status"] != "failed"]
            assert [(str(offer["client_id"]), offer["status"]) for offer in offered] == [
                (who, "expired") for who in expected]
            slot = await db.slot(slot_id)
            assert (slot["held"], slot["booked"], slot["reserved_until"]) == (0, 0, None)
        public = await booking.call("POST", "/v1/holds", client("public"), {"slot_id": slots[0]})
        assert public.status == 201, public.body


async def _expired(db: Db, appointment_ids: list) -> bool:
    statuses = await asyncio.gather(*(db.appointment_status(appointment_id) for appointment_id in appointment_ids))
    return all(status == "expired" for status in statuses)
