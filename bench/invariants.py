"""The invariants every benchmark scenario is checked against afterwards (I1 and I2 of the design)."""

from __future__ import annotations

import uuid

import asyncpg

OVERLAPS = """
SELECT count(*) FROM booking.slots a JOIN booking.slots b
  ON a.provider_id = b.provider_id AND a.id < b.id
 AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
WHERE a.status <> 'deleted' AND b.status <> 'deleted'
"""
OVERFULL = "SELECT count(*) FROM booking.slots WHERE held + booked > capacity OR held < 0 OR booked < 0"
COUNTER_DRIFT = """
SELECT count(*) FROM booking.slots s
WHERE s.held <> (SELECT count(*) FROM booking.appointments a WHERE a.slot_id = s.id AND a.status = 'locked')
   OR s.booked <> (SELECT count(*) FROM booking.appointments a WHERE a.slot_id = s.id AND a.status = 'confirmed')
"""


async def check(database_url: str, answered_ids: list[str]) -> dict[str, int]:
    """Counts of violations (all must be 0): overlapping slots, over-full slots, counters that disagree with the
    appointments, and successes the API returned that are not in the database."""
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetchval(
            "SELECT count(*) FROM booking.appointments WHERE id = ANY($1::uuid[])",
            [uuid.UUID(value) for value in answered_ids],
        )
        return {
            "I1_overlapping_slots": await connection.fetchval(OVERLAPS),
            "I1_overfull_slots": await connection.fetchval(OVERFULL),
            "I1_counter_drift": await connection.fetchval(COUNTER_DRIFT),
            "I2_answered_but_missing": len(answered_ids) - stored,
        }
    finally:
        await connection.close()
