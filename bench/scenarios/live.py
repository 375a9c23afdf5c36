"""Live availability: many pages follow one search's stream through the gateway, one booking is made, and the time
until every one of them saw the slot leave is measured (the change travels booking → outbox → broker → availability's
consumer → the shared log → every stream → the gateway → each page)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta

import aiohttp
import asyncpg
import orjson

from bench.catalog import add_slots, make_catalog
from bench.driver import Outcome
from bench.environment import BenchEnvironment
from bench.invariants import check
from bench.scenarios.booking import ScenarioResult
from bench.scenarios.clients import register_clients

CONNECT_SECONDS = 120.0
SEEN_SECONDS = 30.0


async def _follow(session: aiohttp.ClientSession, url: str, params: dict[str, str], token: str, slot_id: str,
                  connected: Connected, seen: dict[int, float], number: int) -> None:
    """One page: its stream open, until it sees `slot_id` leave the pool (the time it did goes into `seen`)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with session.get(url, params=params, headers=headers,
                           timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
        if response.status != 200:
            raise RuntimeError(f"stream refused: {response.status}")
        connected.add(number)
        async for raw in response.content:
            if raw.startswith(b"data: ") and slot_id.encode() in raw and orjson.loads(raw[6:])["remaining"] == 0:
                seen[number] = time.perf_counter()
                return


async def booking_seen_by_every_stream(env: BenchEnvironment, streams: int) -> ScenarioResult:
    """`streams` open availability streams, one booking: each stream's delay from the booking's request to its event."""
    catalog = await make_catalog(env.api, env.admin_token, providers=1)
    (slot,) = await add_slots(env.database_url, catalog, per_provider=1)
    (token,) = await register_clients(env, 1)
    starts_at = await _slot_start(env.database_url, slot)
    params = {"service_id": str(catalog.service_id), "from": (starts_at - timedelta(hours=1)).isoformat(),
              "to": (starts_at + timedelta(hours=1)).isoformat()}
    connected = Connected(streams)
    seen: dict[int, float] = {}
    url = env.url("gateway") + "/v1/availability/stream"
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        followers = [asyncio.create_task(_follow(session, url, params, token, str(slot), connected, seen, number))
                     for number in range(streams)]
        all_open = asyncio.create_task(connected.all_open.wait())
        await asyncio.wait([all_open, *followers], timeout=CONNECT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        all_open.cancel()
        if len(connected) < streams:
            failures = [task.exception() for task in followers if task.done() and task.exception()]
            raise RuntimeError(f"only {len(connected)} of {streams} streams opened: {failures[:3]}")
        await asyncio.sleep(1.0)  # each stream past its first read: subscribed
        outcome = Outcome("booking seen by every open stream", float("inf"), len(connected), 0.0)
        async with env.meter.measuring():
            booked_at = time.perf_counter()
            answer = await env.api.call("POST", "/v1/appointments", token, {"slot_id": str(slot)})
            outcome.statuses[answer.status] += 1
            await asyncio.wait(followers, timeout=SEEN_SECONDS)
        for task in followers:
            task.cancel()
        results = await asyncio.gather(*followers, return_exceptions=True)
    for delay in (moment - booked_at for moment in seen.values()):
        outcome.histogram.record_value(max(1, int(delay * 1_000_000)))
    outcome.errors.update(type(result).__name__ for result in results
                          if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError))
    outcome.elapsed_seconds = max((moment - booked_at for moment in seen.values()), default=0.0)
    booked = [answer.body["id"]] if answer.status == 201 else []
    facts = {"streams": streams, "connected": len(connected), "saw_it": len(seen),
             "all_saw_it_after_ms": round(outcome.elapsed_seconds * 1000, 1), "booking_status": answer.status}
    return ScenarioResult(outcome, facts, await check(env.database_url, booked))


async def _slot_start(database_url: str, slot_id: uuid.UUID) -> datetime:
    connection = await asyncpg.connect(database_url)
    try:
        starts_at: datetime = await connection.fetchval("SELECT starts_at FROM booking.slots WHERE id = $1", slot_id)
    finally:
        await connection.close()
    return starts_at


class Connected:
    """The streams open so far; `all_open` is set once all are."""

    def __init__(self, wanted: int) -> None:
        self._wanted = wanted
        self._numbers: set[int] = set()
        self.all_open = asyncio.Event()

    def add(self, number: int) -> None:
        self._numbers.add(number)
        if len(self._numbers) >= self._wanted:
            self.all_open.set()

    def __len__(self) -> int:
        return len(self._numbers)
