"""(11) Redis "restarted empty" mid-storm: the gateway, booking and availability reach Redis through one proxy; in
the middle of a storm of holds on one slot the proxy is cut, every key under the stack's own prefix is deleted (a
restart that lost its data: locks, refusal and suggestion caches, availability's pages and fences, live log), then
the proxy forwards again. Redis is shared with other work on this machine, so only this stack's keys are touched:
never FLUSHALL, never a real restart.

Exactly one client holds the slot (the slot row's version decides, not the lost lock), nobody gets a 5xx outside the
fault, the availability cache fills again, and once the replica has replayed past the winner's commit (the fence) no
search lists the taken slot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import redis.asyncio as aioredis

from smartslot_common.testing import wait_for

from .harness import (
    Chaos,
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    client_accounts,
    slots,
)
from .storm import minted_tokens, storm

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]
STORM = 600


async def _wipe(redis: aioredis.Redis, prefix: str) -> int:
    """Delete every key under `prefix` (SCAN, never FLUSHDB: the server is shared); how many went."""
    deleted = 0
    async for key in redis.scan_iter(match=f"{prefix}*", count=500):
        deleted += await redis.delete(key)
    return deleted


async def _keys(redis: aioredis.Redis, prefix: str) -> int:
    return len([key async for key in redis.scan_iter(match=f"{prefix}*", count=500)])


async def _listed(chaos: Chaos, token: str, service_id: str) -> set[str]:
    now = datetime.now(UTC)
    answer = await chaos.api.call("GET", "/v1/availability", token, params={
        "service_id": service_id, "from": now.isoformat(), "to": (now + timedelta(days=20)).isoformat()})
    assert answer.status == 200, answer
    return {slot["slot_id"] for slot in answer.body["slots"]}


async def test_11_redis_emptied_mid_storm_leaves_one_winner_and_no_stale_slot() -> None:
    async with (
        chaos_stack(proxied={"redis": ("gateway", "booking", "availability")}) as chaos,
        aioredis.Redis.from_url(chaos.services.base_env["SMARTSLOT_REDIS_URL"]) as redis,
    ):
        prefix = chaos.services.base_env["SMARTSLOT_NAMESPACE"]
        assert prefix, "a stack without a key prefix would wipe others' keys"
        hot, *others = await slots(chaos.api, chaos.admin, 4)
        service_id = str(await chaos.db.fetchval("SELECT service_id FROM booking.slots WHERE id = $1::uuid", hot))
        [reader] = await client_accounts(chaos.api, 1)

        async def all_listed() -> bool:
            return await _listed(chaos, reader.token, service_id) == {hot, *others}

        await wait_for(all_listed, 60, interval=0.2, what="availability to list the new slots (the cache warm)")
        assert await _keys(redis, prefix) > 0
        tokens = minted_tokens(chaos, STORM)
        recorder = Recorder()

        running = asyncio.ensure_future(storm(chaos, recorder, tokens, "/v1/holds", {"slot_id": hot}, concurrency=60))

        async def under_way() -> bool:
            if running.done():
                raise AssertionError(f"the storm ended before the fault: {recorder.statuses()}")
            return len(recorder.answers) >= STORM // 5

        await wait_for(under_way, 120, interval=0.01, what="the storm to be under way")
        recorder.fault_opens()
        await chaos.proxies["redis"].cut()
        wiped = await _wipe(redis, prefix)
        await chaos.proxies["redis"].restore()
        recorder.fault_closes(grace=2.0)
        await running
        assert wiped > 0

        statuses = recorder.statuses()
        assert statuses == {201: 1, 409: STORM - 1}, statuses  # one winner; no 5xx even inside the fault
        [winner] = recorder.created_ids()
        rows = await chaos.db.fetch("SELECT id::text AS id, status FROM booking.appointments WHERE slot_id = $1::uuid",
                                    hot)
        assert [(row["id"], row["status"]) for row in rows] == [(winner, "locked")], rows

        # The fence: the replica has replayed past everything the primary had committed once the storm was over.
        committed = await chaos.db.fetchval("SELECT pg_current_wal_lsn()")
        replica_url = chaos.services.base_env["SMARTSLOT_REPLICA_DATABASE_URL"]

        async def replica_past_fence() -> bool:
            connection = await asyncpg.connect(replica_url)
            try:
                return await connection.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", committed)
            finally:
                await connection.close()

        await wait_for(replica_past_fence, 60, interval=0.2, what="the replica to replay past the storm")

        async def taken_slot_gone() -> bool:
            return await _listed(chaos, reader.token, service_id) == set(others)

        # Availability may still be applying the storm's events it got before and after the wipe.
        await wait_for(taken_slot_gone, 60, interval=0.2, what="the taken slot to leave the listing")
        assert await _keys(redis, prefix) > 0  # the cache filled again
        for _ in range(20):  # and it stays right: no read, cached or filled, brings the taken slot back
            assert await _listed(chaos, reader.token, service_id) == set(others)

        # After the fault the slot stays taken, and the winner confirms as usual.
        loser = await recorder.call(chaos.api, "POST", "/v1/holds", tokens[0], {"slot_id": hot})
        assert loser is not None, recorder.answers[-1]
        assert loser.status == 409, loser
        [winner_token] = [token for token, answer in (await running).items() if answer and answer.status == 201]
        confirmed = await recorder.call(chaos.api, "POST", f"/v1/appointments/{winner}/confirm", winner_token, {})
        assert confirmed is not None, recorder.answers[-1]
        assert confirmed.status == 200, confirmed
        await assert_each_confirmation_published_and_emailed_once(chaos, [winner])
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
