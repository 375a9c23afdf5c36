"""Storm losers answered at the gateway: a slot booking just refused as held or full, refused here the same way for
as long as booking said it would go on refusing it.

When booking refuses a public claim of a slot (`{slot_id}`) from its memory of the slot held or full, its 409 carries
`X-SmartSlot-Refusal-Seconds` (`smartslot_common.http.problems.REFUSAL_SECONDS_HEADER`): every such claim of that
slot gets this very answer for that long. Until then the gateway gives that answer to the next claims of the slot
itself, after identity, role, rate limits and the body's checks, so a storm's losers cost booking nothing. The
window is booking's own and never longer than `max_seconds`: the memory is no staler here than in booking, where it
can only turn a client away for a moment, never let one in. A claim carrying an Idempotency-Key always goes to
booking (its earlier answer may be a 201 to replay).

So that a storm's losers find that answer here rather than all reaching booking before its first refusal comes
back, claims of one slot go to booking one at a time from this process (`claiming`), as booking's own instant
bookings of a slot do: each waiting claim looks at the memory again when the one before it is answered. A claim
waits at most `TURN_WAIT_SECONDS`, then goes to booking anyway (booking decides, as it would have). With the memory
switched off there are no turns either.

Memory: at most `max_slots` slots; when full, the ones whose window is over are dropped, and if none is, all.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson

TURN_WAIT_SECONDS = 1.0


def claimed_slot(body: bytes | None) -> str | None:
    """The slot a claim's body asks for when it is exactly `{"slot_id": <uuid>}` (booking would check anything
    more), as booking names it; None otherwise."""
    if not body:
        return None
    try:
        asked = orjson.loads(body)
        if not isinstance(asked, dict) or asked.keys() != {"slot_id"}:
            return None
        return str(uuid.UUID(asked["slot_id"]))
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class Refusal:
    """Booking's answer to give again: its status and problem document."""

    status: int
    document: dict[str, Any]


class RefusedSlots:
    """Slots to refuse here for a moment, each with booking's answer."""

    def __init__(self, max_seconds: float, max_slots: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_seconds = max_seconds
        self._max_slots = max_slots
        self._clock = clock
        self._refused: dict[str, tuple[float, Refusal]] = {}  # slot id -> (until, answer)
        self._turns: dict[str, asyncio.Event] = {}  # slot id -> set when the claim at booking is answered

    @asynccontextmanager
    async def claiming(self, slot_id: str) -> AsyncIterator[Refusal | None]:
        """Booking's answer to give for a claim of the slot, or None while this claim has its turn at booking (or
        waited its longest for one). Switched off (`max_seconds` 0), every claim goes to booking at once."""
        if self._max_seconds <= 0:
            yield None
            return
        deadline = asyncio.get_running_loop().time() + TURN_WAIT_SECONDS
        waited_longest = False
        while (refusal := self.refusal(slot_id)) is None and (running := self._turns.get(slot_id)) is not None:
            try:
                async with asyncio.timeout_at(deadline):
                    await running.wait()
            except TimeoutError:
                waited_longest = True
                break
        if refusal is not None or waited_longest:  # given here, or decided by booking as without the turns
            yield refusal
            return
        self._turns[slot_id] = turn = asyncio.Event()
        try:
            yield None
        finally:
            if self._turns.get(slot_id) is turn:
                del self._turns[slot_id]
            turn.set()

    def learn(self, slot_id: str, seconds_header: str, status: int, body: bytes) -> None:
        """Booking refused a claim of `slot_id` for `seconds_header` seconds with this answer; one that does not
        parse (seconds, or a JSON object for a body) is not kept."""
        try:
            seconds = min(float(seconds_header), self._max_seconds)
            document = orjson.loads(body)
        except (ValueError, orjson.JSONDecodeError):
            return
        if not (seconds > 0 and isinstance(document, dict)):  # also refuses NaN
            return
        now = self._clock()
        if len(self._refused) >= self._max_slots:
            self._refused = {slot: kept for slot, kept in self._refused.items() if kept[0] > now}
            if len(self._refused) >= self._max_slots:
                self._refused.clear()
        self._refused[slot_id] = (now + seconds, Refusal(status, document))

    def refusal(self, slot_id: str) -> Refusal | None:
        """Booking's answer for a claim of `slot_id` now, or None when the claim must go to booking."""
        kept = self._refused.get(slot_id)
        if kept is None:
            return None
        until, refusal = kept
        if until <= self._clock():
            del self._refused[slot_id]
            return None
        return refusal
