"""What booking's repositories share: the column lists their statements read, the appointment's event context, and
the database clock. The repositories themselves are `slots`, `appointments`, `idempotency`, `catalog_repository`
and `schedule_repository`; every write to a slot is a compare-and-set on its `version`."""

from __future__ import annotations

from datetime import datetime

from smartslot_common.db import Connection, fetch_value

SLOT_COLUMNS = "id, provider_id, service_id, starts_at, ends_at, capacity, held, booked, status, version"
APPOINTMENT_COLUMNS = (
    "id, status, slot_id, provider_id, service_id, client_id, starts_at, ends_at, hold_expires_at, origin, "
    "assignment, fee_cents, currency, created_at, updated_at, client_email, client_name, ics_sequence"
)
APPOINTMENT_CONTEXT = """
SELECT p.timezone, p.display_name AS provider_name, p.user_id AS provider_user_id, s.name AS service_name,
       s.price_cents, s.currency, c.name AS clinic_name, c.address AS clinic_address
FROM providers p JOIN clinics c ON c.id = p.clinic_id, services s
WHERE p.id = $1 AND s.id = $2
"""


async def database_now(connection: Connection) -> datetime:
    """The database clock: the one clock every deadline uses."""
    return await fetch_value(connection, datetime, "SELECT clock_timestamp()")
