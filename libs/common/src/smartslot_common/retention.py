"""Retention: rows that have served their purpose are deleted in small batches, so tables stop growing.

A service declares one `RetentionPolicy` per kind of row it keeps only for a while (published outbox rows, inbox
rows, expired idempotency keys, finished deliveries); `retain` runs them all as one periodic pass. Each batch is one
short statement in its own transaction: it locks the rows it takes with `SKIP LOCKED` (never waiting for a row a
request holds, never taking one another process is deleting) and removes them by `ctid`, so no lock outlives a
batch and several processes of a service may run the pass at once.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from smartslot_common.db import ConnectionOrPool
from smartslot_common.logging import get_logger
from smartslot_common.metrics import RETENTION_OLDEST_AGE, RETENTION_ROWS_DELETED
from smartslot_common.settings import ServiceSettings

log = get_logger(__name__)

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_WINDOW = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>w|d|h|m|s)", re.IGNORECASE)
_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}


def parse_window(value: object) -> object:
    """`7d`, `36h`, `90m`, `2w`, `1d12h` or a number of seconds as a timedelta; anything else is left to pydantic
    (an ISO 8601 duration such as `P7D`, a timedelta)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(seconds=float(text))
    if text and re.fullmatch(rf"(?:{_WINDOW.pattern}\s*)+", text, re.IGNORECASE):
        return sum((float(m["amount"]) * _UNITS[m["unit"].lower()] for m in _WINDOW.finditer(text)), timedelta())
    return value


def _positive(window: timedelta) -> timedelta:
    if window <= timedelta(0):
        raise ValueError("a retention window must be longer than zero")
    return window


# A setting holding a retention window: `7d`, `36h`, `2w`, seconds, or ISO 8601 (`P7D`); longer than zero.
RetentionWindow = Annotated[timedelta, BeforeValidator(parse_window), AfterValidator(_positive)]


class RetainingSettings(ServiceSettings):
    """Settings of a service that runs the retention pass; its windows are its own fields."""

    retention_interval_seconds: float = Field(300.0, gt=0, description="How often the retention pass runs")
    retention_batch_size: int = Field(
        1000, ge=1, le=100_000, description="Rows one retention statement deletes at most (one short transaction)"
    )


@dataclass(frozen=True)
class RetentionPolicy:
    """Rows of `table` matching `where` whose `column` is older than `keep` are deleted; other rows never are.

    `where` is a fixed SQL predicate on the table's own columns (e.g. `published_at IS NOT NULL`); write it as the
    partial index on `column` that serves the scan is written, so the planner can use that index.
    """

    table: str
    column: str
    keep: timedelta
    where: str = "true"

    def __post_init__(self) -> None:
        for name in (self.table, self.column):
            if not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"{name!r} is not a plain lower-case identifier")
        _positive(self.keep)

    @property
    def delete_batch_sql(self) -> str:
        """One batch: $1 the window, $2 the batch size; the oldest rows first, through the index on `column`."""
        return (
            f"DELETE FROM {self.table} WHERE ctid = ANY(ARRAY("
            f"SELECT ctid FROM {self.table} WHERE {self.column} < now() - $1::interval AND ({self.where}) "
            f"ORDER BY {self.column} LIMIT $2 FOR UPDATE SKIP LOCKED))"
        )

    @property
    def oldest_age_sql(self) -> str:
        """Seconds since the `column` of the oldest row the policy covers (0 when none, or when it is ahead)."""
        return (
            f"SELECT coalesce(greatest(extract(epoch FROM now() - min({self.column})), 0), 0)::float8 "
            f"FROM {self.table} WHERE {self.column} IS NOT NULL AND ({self.where})"
        )


async def purge(
    pool: ConnectionOrPool, policy: RetentionPolicy, batch_size: int, budget_seconds: float = math.inf
) -> int:
    """Delete every row past the policy's window, `batch_size` at a time, for at most about `budget_seconds` (at
    least one batch; the rest is left to the next pass); how many were deleted."""
    deleted_total, counter = 0, RETENTION_ROWS_DELETED.labels(policy.table)
    deadline = time.monotonic() + budget_seconds
    while True:
        status = await pool.execute(policy.delete_batch_sql, policy.keep, batch_size)
        deleted = int(status.split()[-1])
        counter.inc(deleted)
        deleted_total += deleted
        if deleted < batch_size or time.monotonic() >= deadline:
            return deleted_total


async def retain(
    pool: ConnectionOrPool, policies: list[RetentionPolicy], batch_size: int, budget_seconds: float = math.inf
) -> dict[str, int]:
    """One retention pass over every policy: purge, then export the age of the oldest row each still keeps.

    The policies share `budget_seconds` evenly. A backlog (the first pass over a database that never had retention)
    is then worked off over several passes, each of which ends, so the job's last success stays fresh.
    """
    deleted: dict[str, int] = {}
    for policy in policies:
        deleted[policy.table] = await purge(pool, policy, batch_size, budget_seconds / max(len(policies), 1))
        RETENTION_OLDEST_AGE.labels(policy.table).set(await pool.fetchval(policy.oldest_age_sql))
    if any(deleted.values()):
        log.info("retention_deleted", **{table: count for table, count in deleted.items() if count})
    return deleted


def pass_budget(settings: RetainingSettings) -> float:
    """How long one pass of a service's job may delete: half its interval, so passes never run into each other."""
    return settings.retention_interval_seconds / 2
