"""Read-your-writes for a caller's own holds and bookings: the slots each caller held or booked moments ago, sent
with its searches so that availability never lists them to that caller from a page cached before the booking.

Availability's cache hears of a booking through its event (outbox relay, RabbitMQ, consumer): milliseconds
normally, longer while the broker is cut. Until then a day page cached before the booking can still list the slot,
to the very client who just booked it. So after a 2xx answer to `POST /v1/holds`, `POST /v1/appointments` or
`POST /v1/appointments/{id}/reschedule`, the gateway remembers for that caller the slot the answer names (its
`slot_id`) for `SMARTSLOT_GATEWAY_OWN_WRITES_SECONDS`, and sends the caller's live ones with its searches in
`X-SmartSlot-Own-Slots`; availability answers a search whose answer lists one of them from the primary.

The window, 120 s by default: with no event at all, a page cached before the booking stops being served within
three lifetimes of a page (Redis's copy, a process's copy of it, an answer kept from it: 3 x 30 s by default), and
what replaces it is read from a replica that is at most the replica-lag limit behind (30 s; beyond it /readyz says
degraded): 90 + 30 = 120 s. After that the listing is right for everyone, however long the broker stays cut.

Memory: callers in the order of their last write, at most `max_callers` (the least recent dropped first) and
`SLOTS_PER_CALLER` slots each; callers whose window is over are dropped as new writes arrive. A search by a caller
with no recent write costs one dict lookup.

Several gateway processes (`SMARTSLOT_GATEWAY_OWN_WRITES_SHARED=true`; one process alone keeps its writes in memory
and spends nothing on Redis for them): each write is also stored in Redis (`<prefix>:<user>:<slot>`, expiring with the
window) and published on a channel every process follows into memory (`smartslot_common.redis_channel`, as the
role marks are); a process loads the stored ones whenever it subscribes, so one that starts or reconnects knows the
recent writes too. The residual race: the mark is published before the 201 leaves, and Redis has written it to
every subscriber's connection by the time it answers the publish; yet a search the client sends the moment it has
the 201 may reach another process whose event loop takes that request before it reads the message. That search
goes without the header and may list the slot, as every search could before. While a process does not follow the
channel (starting, Redis unreachable) its writes stay in its own memory (no wait on a Redis that does not answer)
and it hears no other process's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

import orjson
import redis.asyncio as aioredis

from gateway import metrics
from smartslot_common.logging import get_logger
from smartslot_common.redis import REDIS_UNAVAILABLE
from smartslot_common.redis_channel import ChannelFollower

_UNAVAILABLE: tuple[type[BaseException], ...] = (*REDIS_UNAVAILABLE, TimeoutError)
log = get_logger(__name__)
SLOTS_PER_CALLER = 8  # the most recent ones; the booking rate limit and the live-hold quota keep callers below
KEYS_PER_ROUND_TRIP = 500
LOAD_SECONDS = 30.0  # loading the stored writes on subscribing
# KEYS: the write's key; ARGV: its life in ms, the channel, the message. One command: a pipeline of the two costs the
# booking's answer a third more CPU in redis-py.
SHARE = "redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) return redis.call('PUBLISH', ARGV[2], ARGV[3])"


def slot_named(body: bytes) -> str | None:
    """The slot an appointment answer names (`slot_id`, a UUID), or None when it names none."""
    try:
        answer = orjson.loads(body)
        return str(uuid.UUID(answer["slot_id"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


class OwnWrites:
    """The slots each caller held or booked within the last `window_seconds`, in memory, shared with every gateway
    process through Redis under `prefix`."""

    def __init__(self, redis: aioredis.Redis, prefix: str, window_seconds: float, timeout_seconds: float,
                 max_callers: int = 50_000, resubscribe_seconds: float = 0.5, shared: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.redis, self.prefix, self.timeout_seconds = redis, prefix, timeout_seconds
        self.window_seconds, self.max_callers, self.shared = window_seconds, max_callers, shared
        self.channel = prefix + ":changes"
        self._clock = clock
        self._share = redis.register_script(SHARE)
        self._callers: OrderedDict[uuid.UUID, dict[str, float]] = OrderedDict()  # user: {slot: until, on `clock`}
        self._follower = ChannelFollower(
            redis, self.channel, f"gateway-own-writes-{uuid.uuid4().hex[:12]}", timeout_seconds=timeout_seconds,
            resubscribe_seconds=resubscribe_seconds, on_message=self._apply, on_subscribed=self._catch_up,
            on_following=lambda following: metrics.OWN_WRITES_FOLLOWED.set(int(following)),
        )
        metrics.OWN_WRITES_FOLLOWED.set(0)

    @property
    def following(self) -> bool:
        """Subscribed and loaded: this process hears every process's writes."""
        return self._follower.following

    def __len__(self) -> int:
        return len(self._callers)

    def slots_of(self, user_id: uuid.UUID) -> str | None:
        """The caller's slots still within their window, comma-separated (the header's value); None when none."""
        slots = self._callers.get(user_id)
        if slots is None:
            return None
        now = self._clock()
        live = [slot for slot, until in slots.items() if until > now]
        if not live:
            del self._callers[user_id]
            return None
        return ",".join(live)

    async def note(self, user_id: uuid.UUID, slot_id: str) -> None:
        """Remember that the caller has just held or booked `slot_id`, and tell every gateway process (while this
        one follows the channel; a failure is logged and counted, the write stays remembered here)."""
        if self.window_seconds <= 0:
            return
        self._remember(user_id, slot_id, self._clock() + self.window_seconds)
        if not (self.shared and self.following):
            return
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await self._share(keys=[self._key(user_id, slot_id)],
                                  args=[int(self.window_seconds * 1000), self.channel, f"{user_id} {slot_id}"])
        except _UNAVAILABLE as error:
            metrics.REDIS_FAIL_OPEN.labels(check="own_write").inc()
            log.warning("own_write_not_shared", user_id=str(user_id), error=str(error) or type(error).__name__)

    async def follow(self) -> None:
        """Follow the other processes' writes until cancelled; after any break, subscribe again."""
        await self._follower.follow()

    def _key(self, user_id: uuid.UUID, slot_id: str) -> str:
        return f"{self.prefix}:{user_id}:{slot_id}"

    def _remember(self, user_id: uuid.UUID, slot_id: str, until: float) -> None:
        slots = self._callers.pop(user_id, None) or {}
        slots.pop(slot_id, None)
        slots[slot_id] = until
        while len(slots) > SLOTS_PER_CALLER:
            del slots[next(iter(slots))]
        self._callers[user_id] = slots
        self._forget_oldest()

    def _forget_oldest(self) -> None:
        """Drop callers from the least recent write on while there are too many or their window is over."""
        now = self._clock()
        while self._callers:
            oldest = next(iter(self._callers.values()))
            if len(self._callers) <= self.max_callers and max(oldest.values()) > now:
                return
            self._callers.popitem(last=False)

    def _apply(self, data: bytes) -> None:
        user, _, slot = data.decode(errors="replace").partition(" ")
        if (user_id := _uuid_of(user)) is not None and (slot_id := _uuid_of(slot)) is not None:
            self._remember(user_id, str(slot_id), self._clock() + self.window_seconds)

    async def _catch_up(self) -> None:
        """Every write stored before the subscription (SCAN walks the whole keyspace, caches included); kept beside
        the ones this process made meanwhile."""
        async with asyncio.timeout(LOAD_SECONDS):
            keys = [key async for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000, _type="STRING")]
            for start in range(0, len(keys), KEYS_PER_ROUND_TRIP):
                chunk = keys[start:start + KEYS_PER_ROUND_TRIP]
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key in chunk:
                        pipe.pttl(key)
                    lives = await pipe.execute()
                now = self._clock()
                for key, ttl_ms in zip(chunk, lives, strict=True):
                    user, _, slot = key.decode(errors="replace").rpartition(":")
                    user = user.rpartition(":")[2]
                    if (user_id := _uuid_of(user)) and (slot_id := _uuid_of(slot)) and ttl_ms > 0:
                        self._remember(user_id, str(slot_id), now + ttl_ms / 1000)


def _uuid_of(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
