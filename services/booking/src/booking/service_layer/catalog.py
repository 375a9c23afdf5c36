"""The catalog: clinics, services and providers, with soft deletes that keep history.

A deleted row stays in its table (appointments and analytics still point at it) but reads as "no such resource".
Deletes that would strand live bookings are refused. Rows a delete depends on are locked in a fixed way so that a
concurrent create cannot slip past it: creators lock what they attach to `FOR SHARE`, deleters `FOR NO KEY UPDATE`
(which leaves the foreign-key checks of concurrent holds alone).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from booking.domain.errors import BookingError, ConflictingAppointments, NotFound
from smartslot_common.contracts.events import SCHEDULE_CHANGED
from smartslot_common.db import Connection, fetch_one
from smartslot_common.messaging import Event, add_to_outbox

PRODUCER = "booking"
CLINIC_COLUMNS = "id, name, timezone, address, created_at"
SERVICE_COLUMNS = "id, name, duration_minutes, price_cents, currency, cancellation_policy, created_at"
PROVIDER_COLUMNS = "id, user_id, clinic_id, display_name, timezone, created_at"
# A provider's offered services as a list; deleted services are no longer offered.
PROVIDER_SERVICE_IDS = (
    "ARRAY(SELECT ps.service_id FROM provider_services ps JOIN services s ON s.id = ps.service_id "
    "AND s.deleted_at IS NULL WHERE ps.provider_id = providers.id ORDER BY ps.service_id) AS service_ids"
)
LIVE = "('locked', 'confirmed')"


@dataclass(frozen=True)
class PageRequest:
    """At most `limit` items, after the `(sort key, id)` of the last item already seen."""

    limit: int
    after: tuple[str, uuid.UUID] | None = None


@dataclass(frozen=True)
class Page:
    """One page of items; `last` is the key to continue after, or None on the last page."""

    items: list[dict[str, Any]]
    last: tuple[str, uuid.UUID] | None


async def _page(
    pool: asyncpg.Pool, select: str, sort: str, conditions: list[str], args: list[Any], page: PageRequest
) -> Page:
    """Keyset pagination on `(sort, id)`: stable while rows are added, and an index range scan at any depth."""
    args = list(args)
    if page.after is not None:
        args.extend(page.after)
        conditions = [*conditions, f"({sort}, id) > (${len(args) - 1}, ${len(args)})"]
    args.append(page.limit + 1)
    rows = await pool.fetch(
        f"{select} WHERE {' AND '.join(conditions)} ORDER BY {sort}, id LIMIT ${len(args)}", *args
    )
    items = [dict(row) for row in rows[: page.limit]]
    more = len(rows) > page.limit
    return Page(items, (items[-1][sort], items[-1]["id"]) if more else None)


async def _update(
    pool: asyncpg.Pool, table: str, columns: str, row_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """Set `changes` on a live row (the keys are validated field names, never user text); `404` if none."""
    assignments = ", ".join(f"{column} = ${index}" for index, column in enumerate(changes, start=2))
    sql = (
        f"UPDATE {table} SET {assignments} WHERE id = $1 AND deleted_at IS NULL RETURNING {columns}"
        if changes else f"SELECT {columns} FROM {table} WHERE id = $1 AND deleted_at IS NULL"
    )
    row = await pool.fetchrow(sql, row_id, *changes.values())
    if row is None:
        raise NotFound(f"No such {table.rstrip('s')}.")
    return dict(row)


async def _get(pool: asyncpg.Pool, table: str, columns: str, row_id: uuid.UUID) -> dict[str, Any]:
    row = await pool.fetchrow(f"SELECT {columns} FROM {table} WHERE id = $1 AND deleted_at IS NULL", row_id)
    if row is None:
        raise NotFound(f"No such {table.rstrip('s')}.")
    return dict(row)


async def _lock_live(connection: Connection, table: str, row_id: uuid.UUID) -> None:
    """Lock a live row against concurrent creators attaching to it; `404` when deleted or unknown."""
    if not await connection.fetchval(
        f"SELECT true FROM {table} WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE", row_id
    ):
        raise NotFound(f"No such {table.rstrip('s')}.")


async def _retire_future_slots(connection: Connection, column: str, value: uuid.UUID) -> list[Any]:
    """Mark the future open slots of a provider or service deleted; return the (provider, service) pairs touched.

    Done *before* looking for live appointments: it waits for any hold in flight on those slots, and every hold
    after it fails its compare-and-set, so the look that follows sees every booking there will be.
    """
    return await connection.fetch(
        "UPDATE slots SET status = 'deleted', version = version + 1, updated_at = now() "
        f"WHERE {column} = $1 AND starts_at > clock_timestamp() AND status = 'open' "
        "RETURNING provider_id, service_id",
        value,
    )


async def _refuse_live_appointments(connection: Connection, column: str, value: uuid.UUID) -> None:
    ids = await connection.fetch(
        f"SELECT id FROM appointments WHERE {column} = $1 AND status IN {LIVE} AND starts_at > clock_timestamp() "
        "ORDER BY starts_at, id",
        value,
    )
    if ids:
        raise ConflictingAppointments(
            "Future appointments are still booked here; cancel them first.",
            appointment_ids=[str(row["id"]) for row in ids],
        )


async def _announce_schedule_change(
    connection: Connection, retired: list[Any], reason: str
) -> None:
    """One `schedule.changed` per provider whose future slots went away, naming the services affected."""
    by_provider: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in retired:
        by_provider.setdefault(row["provider_id"], set()).add(row["service_id"])
    events = [
        Event.create(SCHEDULE_CHANGED, {
            "provider_id": str(provider_id), "service_ids": sorted(map(str, services)), "reason": reason,
            "slots_created": 0, "slots_removed": sum(row["provider_id"] == provider_id for row in retired),
        }, PRODUCER)
        for provider_id, services in by_provider.items()
    ]
    if events:
        await add_to_outbox(connection, *events)


# --- clinics --------------------------------------------------------------------------------------------------------


async def create_clinic(pool: asyncpg.Pool, name: str, timezone: str, address: str | None) -> dict[str, Any]:
    """A new clinic."""
    row = await fetch_one(
        pool,
        f"INSERT INTO clinics (id, name, timezone, address) VALUES ($1, $2, $3, $4) RETURNING {CLINIC_COLUMNS}",
        uuid.uuid4(), name, timezone, address,
    )
    return dict(row)


async def list_clinics(pool: asyncpg.Pool, page: PageRequest) -> Page:
    """Live clinics by name."""
    return await _page(pool, f"SELECT {CLINIC_COLUMNS} FROM clinics", "name", ["deleted_at IS NULL"], [], page)


async def get_clinic(pool: asyncpg.Pool, clinic_id: uuid.UUID) -> dict[str, Any]:
    """A live clinic, or `404`."""
    return await _get(pool, "clinics", CLINIC_COLUMNS, clinic_id)


async def update_clinic(pool: asyncpg.Pool, clinic_id: uuid.UUID, changes: dict[str, Any]) -> dict[str, Any]:
    """Change name, time zone or address; providers keep their own zone (it was copied when they were created)."""
    return await _update(pool, "clinics", CLINIC_COLUMNS, clinic_id, changes)


async def delete_clinic(pool: asyncpg.Pool, clinic_id: uuid.UUID) -> None:
    """Soft-delete a clinic that has no live provider left (`409 conflict` otherwise)."""
    async with pool.acquire() as connection, connection.transaction():
        await _lock_live(connection, "clinics", clinic_id)
        providers = await connection.fetchval(
            "SELECT count(*) FROM providers WHERE clinic_id = $1 AND deleted_at IS NULL", clinic_id
        )
        if providers:
            raise BookingError(f"The clinic still has {providers} provider(s); delete or move them first.")
        await connection.execute("UPDATE clinics SET deleted_at = now() WHERE id = $1", clinic_id)


# --- services -------------------------------------------------------------------------------------------------------


async def create_service(pool: asyncpg.Pool, fields: dict[str, Any]) -> dict[str, Any]:
    """A new service with its cancellation policy."""
    row = await fetch_one(
        pool,
        "INSERT INTO services (id, name, duration_minutes, price_cents, currency, cancellation_policy) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SERVICE_COLUMNS}",
        uuid.uuid4(), fields["name"], fields["duration_minutes"], fields["price_cents"], fields["currency"],
        fields["cancellation_policy"],
    )
    return dict(row)


async def list_services(pool: asyncpg.Pool, page: PageRequest) -> Page:
    """Live services by name."""
    return await _page(pool, f"SELECT {SERVICE_COLUMNS} FROM services", "name", ["deleted_at IS NULL"], [], page)


async def get_service(pool: asyncpg.Pool, service_id: uuid.UUID) -> dict[str, Any]:
    """A live service, or `404`."""
    return await _get(pool, "services", SERVICE_COLUMNS, service_id)


async def update_service(pool: asyncpg.Pool, service_id: uuid.UUID, changes: dict[str, Any]) -> dict[str, Any]:
    """Change the service's terms; existing slots and appointments keep theirs, new slots use the new duration."""
    return await _update(pool, "services", SERVICE_COLUMNS, service_id, changes)


async def delete_service(pool: asyncpg.Pool, service_id: uuid.UUID) -> None:
    """Soft-delete a service with no future live appointment; its future open slots and weekly rules go with it."""
    async with pool.acquire() as connection, connection.transaction():
        await _lock_live(connection, "services", service_id)
        retired = await _retire_future_slots(connection, "service_id", service_id)
        await _refuse_live_appointments(connection, "service_id", service_id)
        await connection.execute("UPDATE services SET deleted_at = now() WHERE id = $1", service_id)
        await connection.execute("DELETE FROM working_hours WHERE service_id = $1", service_id)
        await _announce_schedule_change(connection, retired, "service_deleted")


# --- providers ------------------------------------------------------------------------------------------------------


async def create_provider(pool: asyncpg.Pool, fields: dict[str, Any]) -> dict[str, Any]:
    """A provider at a clinic offering the given services; the zone defaults to the clinic's."""
    async with pool.acquire() as connection, connection.transaction():
        clinic_zone = await connection.fetchval(
            "SELECT timezone FROM clinics WHERE id = $1 AND deleted_at IS NULL FOR SHARE", fields["clinic_id"]
        )
        if clinic_zone is None:
            raise NotFound("No such clinic.")
        await _require_services(connection, fields["service_ids"])
        try:
            row = await fetch_one(
                connection,
                "INSERT INTO providers (id, user_id, clinic_id, display_name, timezone) VALUES ($1, $2, $3, $4, $5) "
                f"RETURNING {PROVIDER_COLUMNS}",
                uuid.uuid4(), fields["user_id"], fields["clinic_id"], fields["display_name"],
                fields.get("timezone") or clinic_zone,
            )
        except asyncpg.UniqueViolationError:  # providers_live_user: one live provider per user
            raise BookingError("This user is already a provider.") from None
        await connection.executemany(
            "INSERT INTO provider_services (provider_id, service_id) VALUES ($1, $2)",
            [(row["id"], service_id) for service_id in dict.fromkeys(fields["service_ids"])],
        )
        return dict(row) | {"service_ids": list(dict.fromkeys(fields["service_ids"]))}


async def _require_services(connection: Connection, service_ids: list[uuid.UUID]) -> None:
    found = await connection.fetch(
        "SELECT id FROM services WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL FOR SHARE", service_ids
    )
    if len(found) != len(set(service_ids)):
        raise NotFound("One of the services does not exist.")


async def list_providers(
    pool: asyncpg.Pool, page: PageRequest, service_id: uuid.UUID | None = None, clinic_id: uuid.UUID | None = None
) -> Page:
    """Live providers by display name, each with the services it offers; optionally of one clinic or service."""
    conditions, args = ["deleted_at IS NULL"], []
    if clinic_id is not None:
        args.append(clinic_id)
        conditions.append(f"clinic_id = ${len(args)}")
    if service_id is not None:
        args.append(service_id)
        conditions.append(
            "EXISTS (SELECT 1 FROM provider_services ps JOIN services s ON s.id = ps.service_id "
            f"AND s.deleted_at IS NULL WHERE ps.provider_id = providers.id AND ps.service_id = ${len(args)})"
        )
    select = f"SELECT {PROVIDER_COLUMNS}, {PROVIDER_SERVICE_IDS} FROM providers"
    return await _page(pool, select, "display_name", conditions, args, page)


async def get_provider(pool: asyncpg.Pool, provider_id: uuid.UUID) -> dict[str, Any]:
    """A live provider with the services it offers, or `404`."""
    return await _get(pool, "providers", f"{PROVIDER_COLUMNS}, {PROVIDER_SERVICE_IDS}", provider_id)


async def delete_provider(pool: asyncpg.Pool, provider_id: uuid.UUID) -> None:
    """Soft-delete a provider with no future live appointment; its future open slots are marked deleted."""
    async with pool.acquire() as connection, connection.transaction():
        await _lock_live(connection, "providers", provider_id)
        retired = await _retire_future_slots(connection, "provider_id", provider_id)
        await _refuse_live_appointments(connection, "provider_id", provider_id)
        await connection.execute("UPDATE providers SET deleted_at = now() WHERE id = $1", provider_id)
        await _announce_schedule_change(connection, retired, "provider_deleted")

