"""Role freshness: a role change writes the user's new role to Redis, and tokens carrying another role stop working.

Tokens carry the role (no database read per request). When an admin changes a role, the gateway stores
`role:<user id> = <new role>` with a TTL equal to the access-token lifetime: any token issued before the change has
expired by the time the mark does, so a missing mark means "no change the user's live tokens could predate". A token
whose role differs from a present mark is refused (`401`), so a demotion bites on the next request, not at expiry.
Redis down: the check fails open (counted), and the short token lifetime bounds the window.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

from gateway import metrics
from smartslot_common.logging import get_logger
from smartslot_common.redis import REDIS_UNAVAILABLE

_UNAVAILABLE: tuple[type[BaseException], ...] = (*REDIS_UNAVAILABLE, TimeoutError)

log = get_logger(__name__)


@dataclass(frozen=True)
class RoleMarks:
    """Reads and writes the per-user role marks under `prefix`."""

    redis: aioredis.Redis
    prefix: str
    ttl_seconds: int
    timeout_seconds: float

    def _key(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}:{user_id}"

    async def mark(self, user_id: uuid.UUID, role: str) -> bool:
        """Record the user's new role; False (logged, counted) when Redis did not take it."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await self.redis.set(self._key(user_id), role, ex=self.ttl_seconds)
        except _UNAVAILABLE as error:
            metrics.REDIS_FAIL_OPEN.labels(check="role_mark").inc()
            log.warning("role_mark_not_written", user_id=str(user_id), error=str(error) or type(error).__name__)
            return False
        return True

    async def is_current(self, user_id: uuid.UUID, role: str) -> bool:
        """False only when Redis says the user's role has since changed; Redis down counts as current."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                marked = await self.redis.get(self._key(user_id))
        except _UNAVAILABLE:
            metrics.REDIS_FAIL_OPEN.labels(check="role_freshness").inc()
            return True
        return marked is None or marked == role.encode()
