"""The invariants every benchmark scenario is checked against afterwards (I1 and I2 of the design).

The queries live once, in `booking.invariants` (the checker booking also runs as a periodic job).
"""

from __future__ import annotations

import asyncpg

from booking.invariants import answered_but_missing, check_double_booking


async def check(database_url: str, answered_ids: list[str]) -> dict[str, int]:
    """Counts of violations (all must be 0): overlapping slots, over-full slots, counters that disagree with the
    appointments, and successes the API returned that are not in the database."""
    connection = await asyncpg.connect(database_url)
    try:
        double_booking = await check_double_booking(connection)
        return {f"I1_{name}": count for name, count in double_booking.items()} | {
            "I2_answered_but_missing": await answered_but_missing(connection, answered_ids),
        }
    finally:
        await connection.close()
