"""The live slot stream on the real Redis: what availability processes append to the shared log reaches the open
streams of every process, and a slot's state never goes back in time there, even when one process appends an older
read of the slot after another appended a newer one (replicas race; each event carries the slot's row version)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from availability.adapters.live_slots import SharedLog
from availability.app_keys import LIVE, REDIS, SETTINGS
from availability.service_layer.live import slot_item
from smartslot_common.redis import SOCKET_TIMEOUT_SECONDS
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration
QUICK_HEARTBEAT = {"live_heartbeat_seconds": 0.2}


@dataclass
class Stream:
    """What an open stream has received: its events (id, name, data) and the ids its heartbeats carried."""

    events: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)
    heartbeats: list[str | None] = field(default_factory=list)

    def slots(self) -> list[tuple[str, int]]:
        return [(data["slot_id"], data["remaining"]) for _, name, data in self.events if name == "slot"]


async def _read(lines: AsyncIterator[bytes], stream: Stream) -> None:
    fields: dict[str, str] = {}
    heartbeat = False
    async for raw in lines:
        line = raw.decode().rstrip("\r\n")
        if line.startswith(": heartbeat"):
            heartbeat = True
        elif line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        else:
            if heartbeat:
                stream.heartbeats.append(fields.get("id"))
            elif "data" in fields:
                stream.events.append((fields.get("id"), fields.get("event", "message"), orjson.loads(fields["data"])))
            fields, heartbeat = {}, False


@asynccontextmanager
async def opened(api: Any, params: dict[str, str], who: Any, last_event_id: str | None = None
                 ) -> AsyncIterator[Stream]:
    headers = who("client").headers | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    stream = Stream()
    async with api.http.get("/v1/availability/stream", params=params, headers=headers) as response:
        assert response.status == 200, await response.text()
        reader = asyncio.create_task(_read(response.content, stream))
        try:
            yield stream
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


def slot_state(catalog: Any, slot_id: uuid.UUID, starts_at: datetime, version: int, remaining: int
               ) -> dict[str, bytes | str]:
    """A slot's state as a process's feeder appends it to the shared log."""
    return slot_item({"slot_id": slot_id, "provider_id": catalog.provider_id, "service_id": catalog.service_id,
                      "clinic_id": catalog.clinic_id, "starts_at": starts_at,
                      "ends_at": starts_at + timedelta(minutes=30), "capacity": 1, "remaining": remaining,
                      "version": version})


async def test_an_older_state_appended_late_is_streamed_by_no_process(
        api: Any, rows: Any, extra_availability: Any, who: Any, at: Any) -> None:
    catalog = await rows.catalog()
    first = at(days=3)
    params = {"service_id": str(catalog.service_id), "from": first.isoformat(),
              "to": (first + timedelta(days=1)).isoformat()}
    slot_id, marker = uuid.uuid4(), uuid.uuid4()
    one = await extra_availability(**QUICK_HEARTBEAT)
    shared = SharedLog(one.app[REDIS], one.app[SETTINGS].redis_key("live", "slots"), 10_000)

    async with opened(one, params, who) as stream:
        await wait_for(lambda: _true(bool(stream.heartbeats)), 10, what="the stream to be following")
        resume_after = stream.heartbeats[-1] or "0-1"
        # One process read the slot booked (version 2); another read it as created (version 1) but appended last;
        # a marker slot after both shows when the stream has followed them.
        await shared.append([slot_state(catalog, slot_id, first, 2, 0), slot_state(catalog, slot_id, first, 1, 1),
                             slot_state(catalog, marker, first + timedelta(hours=1), 1, 1)])
        await wait_for(lambda: _true((str(marker), 1) in stream.slots()), 10, what="the marker slot's event")
        assert stream.slots() == [(str(slot_id), 0), (str(marker), 1)]

    # A process started afterwards fills its log from the shared one, and drops the same stale state.
    two = await extra_availability(**QUICK_HEARTBEAT)
    async with opened(two, params, who, last_event_id=resume_after) as resumed:
        await wait_for(lambda: _true((str(marker), 1) in resumed.slots()), 10, what="the resumed marker event")
        assert resumed.slots() == [(str(slot_id), 0), (str(marker), 1)]
        assert [event[0] for event in resumed.events] == [event[0] for event in stream.events], "the same ids"


async def _true(value: bool) -> bool:
    return value


async def test_the_follower_stays_on_time_through_quiet_moments_longer_than_the_redis_timeout(app: Any) -> None:
    """A quiet log is an empty read, not a Redis timeout: were the follower's blocking read longer than the client's
    socket timeout, every quiet moment would end in a failed read and a retry's second of blindness, and a change
    in that second would reach the streams up to a second late. Changes spaced across more than such a cycle (read,
    fail, retry) all arrive at once."""
    redis, key, live = app[REDIS], app[SETTINGS].redis_key("live", "slots"), app[LIVE]
    catalog = SimpleNamespace(provider_id=uuid.uuid4(), service_id=uuid.uuid4(), clinic_id=None)
    delays = []
    for number in range(5):
        # The scenario itself, not a wait for something: the log stays quiet, longer than the client's timeout once,
        # then at steps that cover a whole read-fail-retry cycle.
        await asyncio.sleep(SOCKET_TIMEOUT_SECONDS + 0.2 if number == 0 else 0.7)
        state = slot_state(catalog, uuid.uuid4(), datetime.now(UTC) + timedelta(days=3), 1, 0)
        appended = time.monotonic()
        entry_id = await redis.xadd(key, state)
        await wait_for(_followed(live, entry_id), 10, interval=0.005, what="the change followed")
        delays.append(time.monotonic() - appended)
    assert max(delays) < 0.3, delays


def _followed(live: Any, entry_id: bytes | str) -> Callable[[], Awaitable[bool]]:
    wanted = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return lambda: _true(live.last_id == wanted)
