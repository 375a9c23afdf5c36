"""The live slot stream: what the consumer applied, turned into `slot` events for every open availability page.

The consumer only notes which slots its events touched (a set add and a wake-up: its hot path stays cheap). A feeder
reads those slots' states in one query per batch, off that path, and appends one change per touched slot and event to
the shared log (a Redis stream), so every availability process, whichever consumed the event, streams the same
changes under the same ids. A follower in each process mirrors the shared log in memory, where the streams wait.
Two processes may append states of one slot out of order (the older read last); the in-memory log drops a state
whose slot version is older than one it holds, so a slot's events never go back in time.
A schedule change names no slots: it becomes a `reset` for the pages of that provider's services (reload).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from availability.adapters.live_slots import SharedLog, slot_states
from smartslot_common.contracts.payloads import AppointmentPayload, Payload, ScheduleChangedPayload, SlotPayload
from smartslot_common.live import RESET, Entry, LiveLog, order_of
from smartslot_common.logging import get_logger
from smartslot_common.redis import SOCKET_TIMEOUT_SECONDS

log = get_logger(__name__)
MAX_PENDING = 100_000  # touched slots waiting to be read; beyond it the oldest are dropped (and pages reset)
RETRY_SECONDS = 1.0
# Once something is touched, the feeder waits this long for the changes right behind it, so that at a few hundred
# events a second one batch (a read of the slots' states, an append to the shared log, a wake-up of every follower)
# carries several events instead of one; streams see a change this much later.
LINGER_SECONDS = 0.025
# The follower's blocking read of the shared log: well within the Redis client's socket timeout, so that a quiet log
# is an empty answer, not a timeout (which would leave the follower a retry's second late for what came meanwhile).
FOLLOW_BLOCK_MS = int(SOCKET_TIMEOUT_SECONDS * 1000 / 2)


@dataclass
class Touched:
    """What the consumer applied since the feeder last looked: slots (with the WAL fence to read them at), schedules."""

    slots: list[uuid.UUID] = field(default_factory=list)
    fence: int = 0
    schedules: list[ScheduleChangedPayload] = field(default_factory=list)
    overflowed: bool = False


class LiveChanges:
    """The hand-over from the consumer to the feeder."""

    def __init__(self) -> None:
        self._touched = Touched()
        self._ready = asyncio.Event()

    def touched(self, payloads: Sequence[Payload], fence: int) -> None:
        """Note the slots and schedules the events of `payloads` (as the consumer read them) changed, readable at WAL
        position `fence` (the consumer's side)."""
        pending = self._touched
        for payload in payloads:
            if isinstance(payload, ScheduleChangedPayload):
                pending.schedules.append(payload)
            else:
                pending.slots.extend(_slot_ids(payload))
        if len(pending.slots) > MAX_PENDING:
            del pending.slots[:len(pending.slots) - MAX_PENDING]
            pending.overflowed = True
        pending.fence = max(pending.fence, fence)
        self._ready.set()

    async def take(self, linger_seconds: float = 0.0) -> Touched:
        """Everything noted so far, once there is something and `linger_seconds` have passed for more to join it."""
        await self._ready.wait()
        if linger_seconds > 0:
            await asyncio.sleep(linger_seconds)
        self._ready.clear()
        taken, self._touched = self._touched, Touched()
        return taken

    def give_back(self, taken: Touched) -> None:
        """A batch the feeder could not publish goes back in front of what came since."""
        pending = self._touched
        pending.slots[:0] = taken.slots
        pending.schedules[:0] = taken.schedules
        pending.fence = max(pending.fence, taken.fence)
        pending.overflowed = pending.overflowed or taken.overflowed
        self._ready.set()


def _slot_ids(payload: Payload) -> Iterable[uuid.UUID]:
    if isinstance(payload, AppointmentPayload):
        yield payload.slot_id
        if payload.previous is not None:  # a reschedule freed the seat it left
            yield payload.previous.slot_id
    elif isinstance(payload, SlotPayload):
        yield payload.slot_id


def slot_item(row: asyncpg.Record | dict[str, Any]) -> dict[str, bytes | str]:
    """A slot's state as the shared log keeps it: its public answer, and the clinic pages filter on."""
    data = {
        "slot_id": str(row["slot_id"]), "provider_id": str(row["provider_id"]), "service_id": str(row["service_id"]),
        "clinic_id": str(row["clinic_id"]), "starts_at": row["starts_at"].isoformat(),
        "ends_at": row["ends_at"].isoformat(), "capacity": row["capacity"], "remaining": max(0, row["remaining"]),
        "version": row["version"],
    }
    return {"e": "slot", "d": orjson.dumps(data)}


def reset_item(schedule: ScheduleChangedPayload) -> dict[str, bytes | str]:
    """A schedule change as the shared log keeps it: a reset for the pages of the provider's services it names (for
    every page when it names none)."""
    scope = {"reason": "schedule_changed", "provider_id": str(schedule.provider_id),
             "service_ids": [str(service) for service in schedule.service_ids or []]}
    return {"e": RESET, "d": orjson.dumps(scope)}


class Published:
    """The last state published per slot (by version and seats), so that two events of one change (a cancellation
    and the release of its seat) make one entry."""

    def __init__(self, size: int = 100_000) -> None:
        self._last: OrderedDict[uuid.UUID, tuple[int, int]] = OrderedDict()
        self._size = size

    def is_new(self, slot_id: uuid.UUID, version: int, remaining: int) -> bool:
        state = (version, remaining)
        if self._last.get(slot_id) == state:
            return False
        self._last[slot_id] = state
        self._last.move_to_end(slot_id)
        if len(self._last) > self._size:
            self._last.popitem(last=False)
        return True


async def items_for(touched: Touched, read_pool: asyncpg.Pool, primary_pool: asyncpg.Pool,
                    published: Published | None = None) -> list[dict[str, bytes | str]]:
    """One item per slot whose state changed (in the order touched) and one reset per schedule change (or for
    everything, when touched slots were dropped)."""
    published = published or Published()
    items: list[dict[str, bytes | str]] = []
    if touched.slots:
        rows = await slot_states(read_pool, primary_pool, list(dict.fromkeys(touched.slots)), touched.fence)
        by_id = {row["slot_id"]: row for row in rows}
        for slot_id in dict.fromkeys(touched.slots):
            row = by_id.get(slot_id)
            if row is not None and published.is_new(slot_id, row["version"], max(0, row["remaining"])):
                items.append(slot_item(row))
    items.extend(reset_item(schedule) for schedule in touched.schedules)
    if touched.overflowed:
        items.append({"e": RESET, "d": orjson.dumps({"reason": "overflow"})})
    return items


async def feed(changes: LiveChanges, shared: SharedLog, read_pool: asyncpg.Pool, primary_pool: asyncpg.Pool) -> None:
    """Publish what the consumer touched, batch by batch, until cancelled; a failed batch is tried again."""
    published = Published()
    while True:
        touched = await changes.take(LINGER_SECONDS)
        try:
            items = await items_for(touched, read_pool, primary_pool, published)
            if items:
                await shared.append(items)
        except Exception as error:  # PostgreSQL or Redis away: the batch waits for them, the stream goes on
            log.warning("live_feed_failed_retrying", error=str(error) or type(error).__name__)
            published = Published()  # what this batch marked as published was not: it must go out again
            changes.give_back(touched)
            await asyncio.sleep(RETRY_SECONDS)


def entry_of(entry_id: str, fields: dict[bytes, bytes]) -> Entry | None:
    """A shared log item as a stream entry (with the scope subscribers filter on)."""
    order = order_of(entry_id)
    if order is None:
        return None
    event, data = fields.get(b"e", b"slot").decode(), fields.get(b"d", b"{}")
    parsed = orjson.loads(data)
    if event == "slot":
        public = {key: parsed[key] for key in ("slot_id", "provider_id", "service_id", "starts_at", "ends_at",
                                               "capacity", "remaining")}
        # The slot row's version: the live log drops a state older than one it already streamed for the slot.
        version = parsed.get("version")
        return Entry(entry_id, order, event, orjson.dumps(public), parsed,
                     subject=public["slot_id"] if isinstance(version, int) else None,
                     version=version if isinstance(version, int) else 0)
    return Entry(entry_id, order, event, data, parsed)


async def follow(shared: SharedLog, live: LiveLog, size: int, block_ms: int = FOLLOW_BLOCK_MS) -> None:
    """Mirror the shared log in `live` until cancelled: its recent past first, then every new item."""
    last: str | None = None
    while True:
        try:
            if last is None:
                recent = await shared.latest(size)
                if len(recent) >= size:
                    live.horizon = order_of(recent[0][0])  # older ones may have been trimmed
                live.append(filter(None, (entry_of(entry_id, fields) for entry_id, fields in recent)))
                last = recent[-1][0] if recent else "0-0"
            items = await shared.read_after(last, block_ms)
            live.append(filter(None, (entry_of(entry_id, fields) for entry_id, fields in items)))
            if items:
                last = items[-1][0]
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Redis away: the streams wait; following resumes after the last item seen
            log.warning("live_follow_failed_retrying", error=str(error) or type(error).__name__)
            await asyncio.sleep(RETRY_SECONDS)
