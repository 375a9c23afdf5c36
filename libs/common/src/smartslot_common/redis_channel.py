"""Following a Redis pub/sub channel that mirrors shared state into a process's memory.

A process that answers from memory what it would otherwise read from Redis on every request (the gateway's role
marks, availability's fences) subscribes to the channel its writers publish on. Pub/sub keeps nothing: a message
sent while a subscriber is disconnected is lost. So memory is trusted only while `following`: from a confirmed
subscription (after the owner's `on_subscribed` caught up with what was written before it) until anything breaks
the connection (an error, a resubscription, or no answer even to a ping). Meanwhile the owner reads Redis itself;
the follower subscribes again after `resubscribe_seconds`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from smartslot_common.logging import get_logger

log = get_logger(__name__)
HEARTBEAT_SECONDS = 5.0  # a ping when the channel is quiet: a silent network break is noticed within two


def subscriber_client(redis: aioredis.Redis, name: str) -> aioredis.Redis:
    """A client of the same server for a subscription alone, named (CLIENT LIST shows whose it is) and without
    silent reconnects: a broken subscription must be noticed, since messages sent meanwhile are lost."""
    pool = redis.connection_pool
    kwargs = pool.connection_kwargs | {"client_name": name, "retry": Retry(NoBackoff(), 0),
                                       "health_check_interval": 0, "socket_timeout": None}
    return aioredis.Redis.from_pool(aioredis.ConnectionPool(connection_class=pool.connection_class,
                                                            max_connections=2, **kwargs))


async def _nothing() -> None:
    return None


class ChannelFollower:
    """Applies every message of `channel` with `on_message`, and says (`following`, `on_following`) when memory
    holds everything published."""

    def __init__(
        self, redis: aioredis.Redis, channel: str, client_name: str, *, timeout_seconds: float,
        resubscribe_seconds: float, on_message: Callable[[bytes], None],
        on_subscribed: Callable[[], Awaitable[None]] = _nothing,
        on_following: Callable[[bool], None] = lambda following: None,
    ) -> None:
        self.redis, self.channel, self.client_name = redis, channel, client_name
        self._timeout_seconds, self._resubscribe_seconds = timeout_seconds, resubscribe_seconds
        self._on_message, self._on_subscribed, self._on_following = on_message, on_subscribed, on_following
        self.following = False

    async def follow(self) -> None:
        """Follow the channel until cancelled; after any break, stop trusting memory and subscribe again."""
        subscriber = subscriber_client(self.redis, self.client_name)
        try:
            while True:
                try:
                    await self._follow_once(subscriber)
                except Exception as error:  # whatever broke, memory is no longer trusted
                    if self.following:
                        log.warning("channel_not_followed", channel=self.channel,
                                    error=str(error) or type(error).__name__)
                    self._set_following(False)
                await asyncio.sleep(self._resubscribe_seconds)
        finally:
            self._set_following(False)
            await subscriber.aclose()

    async def _follow_once(self, subscriber: aioredis.Redis) -> None:
        async with subscriber.pubsub() as pubsub:
            async with asyncio.timeout(self._timeout_seconds * 4):
                await pubsub.subscribe(self.channel)
                confirmed = await pubsub.get_message(timeout=self._timeout_seconds * 4)
            if confirmed is None or confirmed["type"] != "subscribe":
                raise ConnectionError("the subscription was not confirmed")
            # Subscribed first, caught up second: a message sent meanwhile waits on the connection and is applied
            # after, so nothing falls between the two.
            await self._on_subscribed()
            self._set_following(True)
            await self._listen(pubsub)

    async def _listen(self, pubsub: Any) -> None:
        """Apply every message; ping when quiet and give up when not even a ping is answered."""
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=HEARTBEAT_SECONDS)
            if message is None:
                if pinged:
                    raise ConnectionError(f"no answer from Redis within {2 * HEARTBEAT_SECONDS:g} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message["type"] == "message":
                self._on_message(message["data"])
            elif message["type"] == "subscribe":  # subscribed again: what was sent meanwhile is lost
                raise ConnectionError("resubscribed")

    def _set_following(self, following: bool) -> None:
        if following != self.following:
            self.following = following
            self._on_following(following)
