"""(12) The read replica stopped, then lagging by seconds. The machine's PostgreSQL and its replica (5433) are shared
with other work, so neither is ever stopped or paused: the stack gets a streaming replica of its own, `pg_basebackup
-R` of the shared primary into a temporary directory, started on a free port with the machine's binaries (as the
`postgres` user when run as root, as scripts/restore_drill.py does), and availability reads through it. It is stopped
and removed afterwards, also on failure. Day pages live 2 s here, so searches keep filling pages during each phase.

(a) The private replica stopped: availability's /readyz reports the replica check down, every search still answers
200 (from the cache or the primary), and a slot booked through the gateway leaves the listing and never comes back.
(b) Started again, then replay paused (`pg_wal_replay_pause()` on the private replica) while more slots are booked:
the replica provably lacks each booking, yet no search by the booking client lists it at any time after its 201,
nor, once their events are in, any slot booked before it, through the whole pause, until the replica lags its
primary by seconds (`now() - pg_last_xact_replay_timestamp()`): fills behind the invalidation's WAL fence are
answered from the primary, uncached. /readyz says so: its `replica_lag` check (degraded beyond
`SMARTSLOT_AVAILABILITY_REPLICA_LAG_DEGRADED_SECONDS`, 2 s here) reports the lag while the service stays ready.
(c) Replay resumed: the replica catches up, the cache refills, the listing is exactly the unbooked slots, every
booking is published and emailed once, and I1-I5 hold.

Read-your-writes at the 201, for the booking client: between a booking's 201 and its event reaching availability
(the outbox relay, the broker, the consumer: usually a few milliseconds) a page cached before the booking may still
list the slot, but the gateway sends the booking client's searches with the slots it has just booked and
availability answers one that lists them from the primary; so the test asserts that no search by the booking client
lists its slot, from the first search after the 201 on. Another client is promised only what the fence promises
(the slot gone once its event is in): the test counts the searches by an onlooker that saw that window and prints
it."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from smartslot_common.testing import wait_for
from smartslot_common.testing.processes import service_port

from .harness import (
    Chaos,
    Client,
    Recorder,
    _via,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    client_accounts,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

DRILL = Path(__file__).resolve().parents[2] / "scripts" / "restore_drill.py"
# A hot standby refuses to start with less of these than its primary has.
STANDBY_MINIMUMS = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
                    "max_locks_per_transaction")
LAG_SECONDS = 3.0  # how far behind the paused replica must fall, by the primary's commit clock
LAG_DEGRADED_SECONDS = 2  # availability's /readyz reports replay lag beyond this
SLOTS = 8
BOOKED_WHILE_STOPPED = 2
BOOKED_WHILE_LAGGING = 4


def _load_drill() -> ModuleType:
    """scripts/restore_drill.py: its PostgreSQL binaries finder, OS user and cluster handling."""
    spec = importlib.util.spec_from_file_location("restore_drill", DRILL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def private_replica(primary_url: str) -> AsyncIterator[Any]:
    """A streaming replica of the shared primary of this test's own (a restore_drill `Cluster`), running; stopped
    and its directory removed afterwards, whatever happened."""
    drill = _load_drill()
    tools, user = drill.postgres_bindir(), drill.OsUser.for_postgres()
    workdir = Path(tempfile.mkdtemp(prefix="smartslot-chaos-replica-"))
    try:
        user.own(workdir)
        replica = drill.Cluster("replica", workdir / "data", service_port(), tools, user, workdir)
        primary = urlsplit(primary_url)
        started = time.monotonic()
        await drill.run_tool(user, tools / "pg_basebackup", "-h", primary.hostname or "127.0.0.1",
                             "-p", str(primary.port or 5432), "-U", primary.username or "postgres",
                             "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast",
                             what="pg_basebackup of the shared primary", timeout=300)
        print(f"pg_basebackup of the shared primary: {time.monotonic() - started:.1f} s")
        connection = await asyncpg.connect(primary_url)
        try:
            minimums = {row["name"]: row["setting"] for row in await connection.fetch(
                "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])", list(STANDBY_MINIMUMS))}
        finally:
            await connection.close()
        # A Debian data directory holds neither postgresql.conf nor pg_hba.conf (they live under /etc).
        replica.configure(minimums | {
            "port": str(replica.port), "listen_addresses": "'127.0.0.1'", "hot_standby": "on",
            "unix_socket_directories": drill.conf_string(str(workdir)), "shared_buffers": "'32MB'",
            "fsync": "off", "logging_collector": "off"})
        (replica.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        for name in ("postgresql.conf", "pg_hba.conf"):
            user.own(replica.data / name)
        try:
            await replica.start()
            yield replica
        finally:
            await replica.stop_quietly()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _listed(chaos: Chaos, client: Client, service_id: str) -> set[str]:
    """What a search by `client` lists; every search must answer 200, inside the faults too."""
    now = datetime.now(UTC)
    answer = await chaos.api.call("GET", "/v1/availability", client.token, params={
        "service_id": service_id, "from": now.isoformat(), "to": (now + timedelta(days=20)).isoformat()})
    assert answer.status == 200, answer
    return {slot["slot_id"] for slot in answer.body["slots"]}


async def _readiness(chaos: Chaos) -> tuple[int, dict[str, Any]]:
    async with chaos.session.get(chaos.services.services["availability"].url + "/readyz") as response:
        return response.status, await response.json()


async def _replica_fetchval(url: str, query: str, *args: object) -> Any:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def test_12_replica_stopped_then_lagging_never_lists_a_booked_slot() -> None:
    async with (
        chaos_stack(SMARTSLOT_AVAILABILITY_CACHE_TTL_SECONDS="2",
                    SMARTSLOT_AVAILABILITY_REPLICA_LAG_DEGRADED_SECONDS=str(LAG_DEGRADED_SECONDS)) as chaos,
        private_replica(chaos.database_url) as replica,
        aioredis.Redis.from_url(chaos.services.base_env["SMARTSLOT_REDIS_URL"]) as redis,
    ):
        replica_url = _via(chaos.database_url, replica.port)
        chaos.services.stop("availability")
        chaos.services.overrides.setdefault("availability", {})["SMARTSLOT_REPLICA_DATABASE_URL"] = replica_url
        chaos.services.start("availability")
        await chaos.services.ready("availability")
        assert await _replica_fetchval(replica_url, "SELECT pg_is_in_recovery()") is True

        ids = await slots(chaos.api, chaos.admin, SLOTS)
        service_id = str(await chaos.db.fetchval("SELECT service_id FROM booking.slots WHERE id = $1::uuid", ids[0]))
        clients = await client_accounts(chaos.api, BOOKED_WHILE_STOPPED + BOOKED_WHILE_LAGGING + 1)
        onlooker = clients.pop()  # books nothing: what another client sees right after a booking
        prefix = chaos.services.base_env["SMARTSLOT_NAMESPACE"]
        assert prefix, "a stack without a key prefix would count others' keys"

        async def all_listed() -> bool:
            return await _listed(chaos, clients[0], service_id) == set(ids)

        await wait_for(all_listed, 60, interval=0.2, what="availability to list the new slots from its replica")
        status, body = await _readiness(chaos)
        assert (status, body["checks"]["replica"], body["checks"]["replica_lag"]) == (200, "ok", "ok"), body

        recorder = Recorder()
        booked: list[str] = []  # slot ids, in booking order
        appointments: list[str] = []
        onlooker_saw = 0  # searches by the onlooker right after a 201 that still listed the slot (event not in)
        windows: list[float] = []  # from each 201 to the onlooker's first search without its slot

        async def book_and_check(client: Client, slot: str) -> None:
            nonlocal onlooker_saw
            answer = await recorder.call(chaos.api, "POST", "/v1/appointments", client.token, {"slot_id": slot})
            assert answer is not None, recorder.answers[-1]
            assert answer.status == 201, answer
            answered = time.monotonic()
            appointments.append(answer.body["id"])
            booked.append(slot)
            # Read-your-writes: the booking client never sees its slot listed, from its first search on.
            assert slot not in await _listed(chaos, client, service_id), f"{slot} listed to its booker after the 201"
            if slot in await _listed(chaos, onlooker, service_id):
                onlooker_saw += 1

            async def gone() -> bool:
                assert slot not in await _listed(chaos, client, service_id), f"{slot} listed to its booker"
                return slot not in await _listed(chaos, onlooker, service_id)

            await wait_for(gone, 60, interval=0.1, what=f"the slot {slot} to leave everyone's listing after its 201")
            windows.append(time.monotonic() - answered)
            for _ in range(10):  # and it stays gone, with every slot booked before it
                assert not set(booked) & await _listed(chaos, client, service_id), booked
                assert not set(booked) & await _listed(chaos, onlooker, service_id), booked

        # (a) The replica stopped.
        recorder.fault_opens()
        await replica.stop()

        async def replica_down() -> bool:
            status, body = await _readiness(chaos)
            return status == 503 and body["checks"]["replica"].startswith("down:") and "replica" in body["down"]

        await wait_for(replica_down, 60, interval=0.2, what="availability's /readyz to report the replica down")
        for index in range(BOOKED_WHILE_STOPPED):
            await book_and_check(clients[index], ids[index])
        assert await replica_down()

        # (b) Started again, then lagging: replay paused while more slots are booked.
        await replica.start()

        async def replica_ready() -> bool:
            status, body = await _readiness(chaos)
            return status == 200 and body["checks"]["replica"] == "ok"

        await wait_for(replica_ready, 60, interval=0.2, what="availability's /readyz to see the replica again")
        pause = await asyncpg.connect(replica_url)
        try:
            await pause.execute("SELECT pg_wal_replay_pause()")
            try:
                await wait_for(lambda: _state_is(pause, "paused"), 30, interval=0.05, what="replay to pause")
                for index in range(BOOKED_WHILE_STOPPED, BOOKED_WHILE_STOPPED + BOOKED_WHILE_LAGGING):
                    await book_and_check(clients[index], ids[index])
                    stored_on_replica = await pause.fetchval(
                        "SELECT count(*) FROM booking.appointments WHERE id = $1::uuid", appointments[-1])
                    assert stored_on_replica == 0, "the replica is not behind: the fence is not being tested"
                last = clients[BOOKED_WHILE_STOPPED + BOOKED_WHILE_LAGGING - 1]

                async def lagging_by_seconds() -> bool:
                    # Searching all the while: pages keep expiring (2 s) and being filled behind the fence.
                    assert not set(booked) & await _listed(chaos, last, service_id), booked
                    lag = await pause.fetchval("SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())")
                    return float(lag) >= LAG_SECONDS

                await wait_for(lagging_by_seconds, 120, interval=0.2, what=f"the replica to lag {LAG_SECONDS} s")
                status, body = await _readiness(chaos)
                assert status == 200, body  # lagging, still ready: the primary answers what the replica lacks
                assert body["checks"]["replica"] == "ok", body
                assert body["checks"]["replica_lag"].startswith("degraded: replica replay "), body
            finally:
                await pause.execute("SELECT pg_wal_replay_resume()")
        finally:
            await pause.close()
        recorder.fault_closes()

        # (c) Replay resumed: caught up, the cache refills, the listing is right.
        committed = await chaos.db.fetchval("SELECT pg_current_wal_lsn()")

        async def caught_up() -> bool:
            return bool(await _replica_fetchval(replica_url, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn",
                                                committed))

        await wait_for(caught_up, 120, interval=0.2, what="the private replica to replay past the bookings")

        async def lag_cleared() -> bool:
            return (await _readiness(chaos))[1]["checks"]["replica_lag"] == "ok"

        await wait_for(lag_cleared, 60, interval=0.2, what="/readyz to stop reporting replica lag")
        unbooked = set(ids) - set(booked)

        async def cache_refilled() -> bool:
            assert await _listed(chaos, clients[0], service_id) == unbooked
            return any([key async for key in redis.scan_iter(match=f"{prefix}*avail:page:{service_id}:*")])

        await wait_for(cache_refilled, 60, interval=0.2, what="the availability cache to fill again from the replica")
        for client in [*clients, onlooker]:
            assert await _listed(chaos, client, service_id) == unbooked
        print(f"searches by the booking client listing its slot after the 201: 0 of {len(booked)}; by an onlooker "
              f"right after it: {onlooker_saw} of {len(booked)}; 201 to unlisted for everyone: at most "
              f"{max(windows):.3f} s")

        await assert_each_confirmation_published_and_emailed_once(chaos, appointments)
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)


async def _state_is(connection: asyncpg.Connection, state: str) -> bool:
    return await connection.fetchval("SELECT pg_get_wal_replay_pause_state()") == state
