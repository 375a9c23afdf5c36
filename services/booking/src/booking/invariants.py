"""The invariant checker: counts what must never exist (I1, I3, I4) and exports the counts as gauges.

`python -m booking.invariants` prints the counts as JSON and exits 1 when any is non-zero; booking runs the same
check periodically (`entrypoints/jobs.py`) and sets `smartslot_invariant_violations{invariant=...}`. It reads the
waitlist's schema too (read-only), guarded by `to_regclass` so it works before those tables exist.

The one home of the invariants' SQL: the benchmarks, the soak, the chaos tests and the restore drill call these
functions too, including the checks that need what only they know (the ids the API answered, I2) or that hold only
before retention deletes published outbox rows (an event for every appointment, I3).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Collection
from typing import ClassVar

import asyncpg
import orjson

from booking.metrics import INVARIANT_VIOLATIONS
from smartslot_common.db import Connection, fetch_value

# A hold or offer may outlive its deadline by one sweep period; beyond this it is a violation (I4).
DEFAULT_DEADLINE_GRACE_SECONDS = 5.0
# An outbox row unpublished for longer than this means the relay or the broker is stuck (I3).
DEFAULT_OUTBOX_MAX_AGE_SECONDS = 60.0

OVERLAPS = """
SELECT count(*) FROM booking.slots a JOIN booking.slots b
  ON a.provider_id = b.provider_id AND a.id < b.id
 AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
WHERE a.status <> 'deleted' AND b.status <> 'deleted'
"""
OVERFULL = "SELECT count(*) FROM booking.slots WHERE held + booked > capacity OR held < 0 OR booked < 0"
# A completed or no-show appointment keeps the seat it was booked on: its time was used (or lost), never freed.
COUNTER_DRIFT = """
SELECT count(*) FROM booking.slots s
WHERE s.held <> (SELECT count(*) FROM booking.appointments a WHERE a.slot_id = s.id AND a.status = 'locked')
   OR s.booked <> (SELECT count(*) FROM booking.appointments a
                   WHERE a.slot_id = s.id AND a.status IN ('confirmed', 'completed', 'no_show'))
"""
# Live appointments beyond a slot's seats, counted from the appointments themselves, whatever the counters say.
LIVE_OVER_CAPACITY = """
SELECT count(*) FROM (
  SELECT a.slot_id FROM booking.appointments a JOIN booking.slots s ON s.id = a.slot_id
  WHERE a.status IN ('locked', 'confirmed') GROUP BY a.slot_id, s.capacity HAVING count(*) > s.capacity
) over_capacity
"""
HOLDS_PAST_DEADLINE = """
SELECT count(*) FROM booking.appointments
WHERE status = 'locked' AND hold_expires_at < now() - make_interval(secs => $1)
"""
OFFERS_PAST_DEADLINE = """
SELECT count(*) FROM waitlist.offers
WHERE status = 'pending' AND deadline < now() - make_interval(secs => $1)
"""
OUTBOX_STUCK = (
    "SELECT count(*) FROM {table} WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)"
)
# I2: of the appointment ids the API answered with a success, how many the database has.
ANSWERED_AND_STORED = "SELECT count(*) FROM booking.appointments WHERE id = ANY($1::uuid[])"
# I3: appointments with no event in the outbox (only meaningful before retention deletes published rows).
WITHOUT_OUTBOX_EVENT = """
SELECT count(*) FROM booking.appointments a WHERE NOT EXISTS (
  SELECT 1 FROM booking.outbox o WHERE o.envelope->'payload'->>'appointment_id' = a.id::text)
"""
INVARIANTS = (
    "overlapping_slots", "overfull_slots", "counter_drift", "holds_past_deadline", "offers_past_deadline",
    "booking_outbox_stuck", "waitlist_outbox_stuck",
)


async def _exists(connection: Connection, table: str) -> bool:
    return await fetch_value(connection, bool, "SELECT to_regclass($1) IS NOT NULL", table)


async def check_double_booking(connection: Connection) -> dict[str, int]:
    """I1: overlapping live slots of one provider, over-full slots, counters that disagree with appointments."""
    return {
        "overlapping_slots": await connection.fetchval(OVERLAPS),
        "overfull_slots": await connection.fetchval(OVERFULL),
        "counter_drift": await connection.fetchval(COUNTER_DRIFT),
    }


async def live_over_capacity(connection: Connection) -> int:
    """I1 from the appointments alone: slots with more live (held or confirmed) appointments than seats."""
    return await fetch_value(connection, int, LIVE_OVER_CAPACITY)


async def answered_but_missing(connection: Connection, answered_ids: Collection[str | uuid.UUID]) -> int:
    """I2: how many of the appointment ids the API answered with a success are not in the database (each id
    counted once, so a replayed answer naming the same appointment is no violation)."""
    ids = {uuid.UUID(str(value)) for value in answered_ids}
    return len(ids) - await fetch_value(connection, int, ANSWERED_AND_STORED, list(ids))


async def appointments_without_event(connection: Connection) -> int:
    """I3: appointments no outbox row speaks of (for test stacks, whose published rows are still there)."""
    return await fetch_value(connection, int, WITHOUT_OUTBOX_EVENT)


async def check(
    connection: Connection,
    deadline_grace_seconds: float = DEFAULT_DEADLINE_GRACE_SECONDS,
    outbox_max_age_seconds: float = DEFAULT_OUTBOX_MAX_AGE_SECONDS,
) -> dict[str, int]:
    """Counts of every invariant violation (all must be 0)."""
    counts = await check_double_booking(connection)
    counts["holds_past_deadline"] = await connection.fetchval(HOLDS_PAST_DEADLINE, deadline_grace_seconds)
    counts["offers_past_deadline"] = (
        await connection.fetchval(OFFERS_PAST_DEADLINE, deadline_grace_seconds)
        if await _exists(connection, "waitlist.offers") else 0
    )
    for schema in ("booking", "waitlist"):
        table = f"{schema}.outbox"
        stuck = await connection.fetchval(OUTBOX_STUCK.format(table=table), outbox_max_age_seconds) \
            if await _exists(connection, table) else 0
        counts[f"{schema}_outbox_stuck"] = stuck
    return counts


def export(counts: dict[str, int]) -> None:
    """Set `smartslot_invariant_violations{invariant=...}` from a check's counts."""
    for invariant, count in counts.items():
        INVARIANT_VIOLATIONS.labels(invariant).set(count)


async def check_pool(pool: asyncpg.Pool, deadline_grace_seconds: float) -> dict[str, int]:
    """Run the check on one pooled connection and export the counts (booking's periodic job)."""
    async with pool.acquire() as connection:
        counts = await check(connection, deadline_grace_seconds)
    export(counts)
    return counts


async def _main(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        counts = await check(connection)
    finally:
        await connection.close()
    print(orjson.dumps(counts, option=orjson.OPT_INDENT_2).decode())
    return 1 if any(counts.values()) else 0


def main() -> None:
    """Entry point of `python -m booking.invariants`: print the counts, exit 1 on any violation."""
    from pydantic_settings import SettingsConfigDict

    from smartslot_common.runtime import load_or_exit
    from smartslot_common.settings import ServiceSettings

    class CheckSettings(ServiceSettings):
        """Booking's database and nothing else: an operator runs the check without the service's keys."""

        model_config = SettingsConfigDict(env_prefix="SMARTSLOT_BOOKING_", extra="ignore", populate_by_name=True)
        service_name: ClassVar[str] = "booking.invariants"

    settings = load_or_exit(CheckSettings)
    sys.exit(asyncio.run(_main(settings.database_url.get_secret_value())))


if __name__ == "__main__":
    main()
