"""One business transaction: retried a bounded number of times when PostgreSQL asks for it.

Serialization failures (40001) and deadlocks (40P01) mean "run me again"; everything else propagates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from smartslot_common.db import Connection
from smartslot_common.logging import get_logger

T = TypeVar("T")
RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
MAX_ATTEMPTS = 4
log = get_logger(__name__)


async def in_transaction(
    pool: asyncpg.Pool, work: Callable[[Connection], Awaitable[T]], attempts: int = MAX_ATTEMPTS
) -> T:
    """Run `work` in a transaction on a pooled connection, retrying retryable failures up to `attempts` times."""
    for attempt in range(1, attempts + 1):
        try:
            async with pool.acquire() as connection, connection.transaction():
                return await work(connection)
        except RETRYABLE as error:
            if attempt == attempts:
                raise
            log.info("transaction_retry", attempt=attempt, sqlstate=error.sqlstate)
    raise AssertionError("unreachable")
