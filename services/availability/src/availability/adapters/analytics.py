"""The analytics query over booking's tables (through the replica): raw tallies per provider."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from availability.domain.analytics import ProviderTally, Tally

# Instant bookings record their confirmation with this audit reason; they never were holds a client had to confirm.
INSTANT_REASON = "instant booking"

TALLIES = """
WITH appointment_facts AS (
    SELECT a.provider_id, a.status, a.fee_cents, a.origin, s.status = 'open' AS on_open_slot,
           EXTRACT(EPOCH FROM a.ends_at - a.starts_at) / 60 AS minutes,
           EXISTS (SELECT 1 FROM booking.appointment_transitions t
                   WHERE t.appointment_id = a.id AND t.to_status = 'confirmed') AS was_confirmed,
           EXISTS (SELECT 1 FROM booking.appointment_transitions t
                   WHERE t.appointment_id = a.id AND t.to_status = 'confirmed' AND t.reason = $3) AS instant
    FROM booking.appointments a
    JOIN booking.slots s ON s.id = a.slot_id
    WHERE a.starts_at >= $1 AND a.starts_at < $2
), by_appointments AS (
    SELECT provider_id,
           count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status = 'expired') AS expired,
           count(*) FILTER (WHERE status = 'no_show') AS no_show,
           COALESCE(sum(fee_cents) FILTER (WHERE status = 'cancelled'), 0) AS fees_cents,
           COALESCE(sum(minutes) FILTER (WHERE on_open_slot AND status IN ('confirmed', 'completed', 'no_show')), 0)
               AS booked_minutes,
           count(*) FILTER (WHERE was_confirmed) AS bookings,
           count(*) FILTER (WHERE was_confirmed AND status = 'cancelled') AS bookings_cancelled,
           count(*) FILTER (WHERE NOT instant) AS holds,
           count(*) FILTER (WHERE NOT instant AND was_confirmed) AS holds_converted,
           count(*) FILTER (WHERE origin = 'waitlist') AS waitlist_offers,
           count(*) FILTER (WHERE origin = 'waitlist' AND was_confirmed) AS waitlist_accepted
    FROM appointment_facts
    GROUP BY provider_id
), by_slots AS (
    SELECT provider_id, sum(capacity * EXTRACT(EPOCH FROM ends_at - starts_at) / 60) AS offered_minutes
    FROM booking.slots
    WHERE status = 'open' AND starts_at >= $1 AND starts_at < $2
    GROUP BY provider_id
)
SELECT p.id AS provider_id, p.display_name, p.clinic_id, c.name AS clinic_name,
       COALESCE(a.confirmed, 0) AS confirmed, COALESCE(a.cancelled, 0) AS cancelled,
       COALESCE(a.completed, 0) AS completed, COALESCE(a.expired, 0) AS expired, COALESCE(a.no_show, 0) AS no_show,
       COALESCE(a.fees_cents, 0) AS fees_cents, COALESCE(s.offered_minutes, 0) AS offered_minutes,
       COALESCE(a.booked_minutes, 0) AS booked_minutes, COALESCE(a.bookings, 0) AS bookings,
       COALESCE(a.bookings_cancelled, 0) AS bookings_cancelled, COALESCE(a.holds, 0) AS holds,
       COALESCE(a.holds_converted, 0) AS holds_converted, COALESCE(a.waitlist_offers, 0) AS waitlist_offers,
       COALESCE(a.waitlist_accepted, 0) AS waitlist_accepted
FROM (SELECT provider_id FROM by_appointments UNION SELECT provider_id FROM by_slots) active
JOIN booking.providers p ON p.id = active.provider_id
JOIN booking.clinics c ON c.id = p.clinic_id
LEFT JOIN by_appointments a ON a.provider_id = active.provider_id
LEFT JOIN by_slots s ON s.provider_id = active.provider_id
ORDER BY p.display_name, p.id
"""


async def provider_tallies(pool: asyncpg.Pool, start: datetime, end: datetime) -> list[ProviderTally]:
    """A tally per provider with slots or appointments starting in [start, end), deleted providers included."""
    rows = await pool.fetch(TALLIES, start, end, INSTANT_REASON)
    return [
        ProviderTally(str(row["provider_id"]), row["display_name"], str(row["clinic_id"]), row["clinic_name"],
                      Tally.from_row(row))
        for row in rows
    ]
