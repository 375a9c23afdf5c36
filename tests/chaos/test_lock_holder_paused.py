"""(e) A lock holder paused past its lock's TTL cannot double-book: the Redis lock is for speed, the slot row's
version is the fencing token.

Two booking processes share the database and Redis. booking-1 reaches PostgreSQL through a proxy that holds back its
compare-and-set on the slot (`UPDATE slots ... WHERE version = $2`) once it has won the Redis lock and read the
slot. Then booking-1 is frozen (SIGSTOP) while its lock key lives; the key expires; booking-2 wins the lock and the
slot (201). booking-1 is thawed (SIGCONT) and its held-back write reaches PostgreSQL with the stale version: it
changes nothing, and the client is told 409. The database holds exactly one live appointment for the slot, the
winner's lock survives the loser's release, and the confirmation is published and emailed once."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from booking.adapters.slot_lock import SlotLock
from smartslot_common.api_client import ApiClient
from smartslot_common.settings import ServiceSettings
from smartslot_common.testing import wait_for

from .harness import (
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    client_accounts,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.chaos_fast]
# booking's lock gate (SMARTSLOT_BOOKING_LOCK_GATE_SECONDS): the Redis lock's life while a claim runs. Short, so the
# paused holder outlives it soon; long enough that booking-1 still holds it when its write is held back.
GATE_SECONDS = 3
# repo.take_seat's compare-and-set for a hold, as asyncpg sends it (its Parse message carries the text the first
# time a connection runs it; booking-1 has taken no seat before this test's hold).
COMPARE_AND_SET = b"UPDATE slots SET held = held + 1"


async def _conflicts(api: ApiClient) -> dict[str, float]:
    """booking's `smartslot_booking_conflicts_total` by stage (redis: turned away by the lock; database: lost the
    compare-and-set or found the slot full)."""
    answer = await api.call("GET", "/metrics")
    assert answer.status == 200, answer
    return {sample.labels["stage"]: sample.value
            for family in text_string_to_metric_families(answer.body) if family.name == "smartslot_booking_conflicts"
            for sample in family.samples if sample.name == "smartslot_booking_conflicts_total"}


async def test_e_a_paused_lock_holder_cannot_double_book() -> None:
    async with (
        chaos_stack(proxied={"postgres": ("booking",)}, replicas={"booking-2": "booking"},
                    SMARTSLOT_BOOKING_LOCK_GATE_SECONDS=str(GATE_SECONDS)) as chaos,
        aioredis.Redis.from_url(chaos.services.base_env["SMARTSLOT_REDIS_URL"], decode_responses=True) as redis,
    ):
        first, second, third = await client_accounts(chaos.api, 3)
        [slot_id] = await slots(chaos.api, chaos.admin, 1)
        booking_1, booking_2 = chaos.direct("booking"), chaos.direct("booking-2")  # the gateway routes to booking-1
        prefix = ServiceSettings.model_construct(namespace=chaos.services.base_env["SMARTSLOT_NAMESPACE"]).redis_key()
        lock_key = SlotLock([], prefix).key(slot_id)
        version_before = await chaos.db.fetchval("SELECT version FROM booking.slots WHERE id = $1::uuid", slot_id)
        postgres = chaos.proxies["postgres"]
        recorder = Recorder()

        # booking-1 wins the lock, reads the slot and sends its compare-and-set, which the proxy holds back.
        postgres.stall_at(COMPARE_AND_SET)
        paused_hold = asyncio.ensure_future(
            recorder.call(booking_1, "POST", "/v1/holds", None, {"slot_id": slot_id}, first.identity))

        async def writing() -> bool:
            if paused_hold.done():
                raise AssertionError(f"booking-1 answered before its write was held back: {paused_hold.result()}")
            return postgres.stalled

        await wait_for(writing, 30, interval=0.01, what="booking-1 to send its compare-and-set")
        paused_token = await redis.get(lock_key)
        assert paused_token is not None, "booking-1's lock expired before it could be paused holding it"
        chaos.services.pause("booking")

        # Its lock runs out while it is frozen; booking-2 takes the lock and the slot.
        async def lock_expired() -> bool:
            return not await redis.exists(lock_key)

        await wait_for(lock_expired, GATE_SECONDS + 30, interval=0.05, what="booking-1's lock to expire")
        won = await recorder.call(booking_2, "POST", "/v1/holds", None, {"slot_id": slot_id}, second.identity)
        assert won is not None, recorder.answers
        assert won.status == 201, won
        winner_token = await redis.get(lock_key)
        assert winner_token not in (None, paused_token), (winner_token, paused_token)

        # booking-1 wakes up believing it holds the lock; its write goes out with the version it read before.
        chaos.services.resume("booking")
        postgres.unstall()
        lost = await asyncio.wait_for(paused_hold, 60)
        assert lost is not None, recorder.answers
        assert (lost.status, lost.code) == (409, "slot_held"), lost  # the one seat is the winner's hold
        assert postgres.stalls == 1
        assert (await _conflicts(booking_1)).get("database") == 1  # it lost in PostgreSQL, not at the Redis gate
        assert await redis.get(lock_key) == winner_token  # its release compared tokens: the winner's lock stands
        assert await chaos.db.fetchval(
            "SELECT version FROM booking.slots WHERE id = $1::uuid", slot_id) == version_before + 1  # one write

        # The slot has exactly one live appointment, the winner's; the loser left nothing behind.
        rows = await chaos.db.fetch(
            "SELECT id, client_id, status FROM booking.appointments WHERE slot_id = $1::uuid", slot_id)
        assert [(str(row["id"]), row["client_id"], row["status"]) for row in rows] == [
            (won.body["id"], second.id, "locked")], rows

        # Both processes go on: a third client is turned away at the lock, and the winner confirms through the
        # gateway; the confirmation is published and emailed once.
        refused = await recorder.call(chaos.api, "POST", "/v1/holds", third.token, {"slot_id": slot_id})
        assert refused is not None, recorder.answers
        assert (refused.status, refused.code) == (409, "slot_held"), refused
        confirmed = await recorder.call(chaos.api, "POST", f"/v1/appointments/{won.body['id']}/confirm",
                                        second.token, {})
        assert confirmed is not None, recorder.answers
        assert confirmed.status == 200, confirmed
        assert recorder.statuses().keys() <= {200, 201, 409}, recorder.statuses()
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        await assert_each_confirmation_published_and_emailed_once(chaos, [won.body["id"]])
