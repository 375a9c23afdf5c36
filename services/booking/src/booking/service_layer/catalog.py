"""Creating the catalog: clinics, services and providers."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from booking.domain.errors import NotFound

CLINIC_COLUMNS = "id, name, timezone, address, created_at"
SERVICE_COLUMNS = "id, name, duration_minutes, price_cents, currency, cancellation_policy, created_at"
PROVIDER_COLUMNS = "id, user_id, clinic_id, display_name, timezone, created_at"


async def create_clinic(pool: asyncpg.Pool, name: str, timezone: str, address: str | None) -> dict[str, Any]:
    row = await pool.fetchrow(
        f"INSERT INTO clinics (id, name, timezone, address) VALUES ($1, $2, $3, $4) RETURNING {CLINIC_COLUMNS}",
        uuid.uuid4(), name, timezone, address,
    )
    return dict(row)


async def create_service(pool: asyncpg.Pool, fields: dict[str, Any]) -> dict[str, Any]:
    row = await pool.fetchrow(
        "INSERT INTO services (id, name, duration_minutes, price_cents, currency, cancellation_policy) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SERVICE_COLUMNS}",
        uuid.uuid4(), fields["name"], fields["duration_minutes"], fields["price_cents"], fields["currency"],
        fields["cancellation_policy"],
    )
    return dict(row)


async def list_services(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(f"SELECT {SERVICE_COLUMNS} FROM services WHERE deleted_at IS NULL ORDER BY name, id")
    return [dict(row) for row in rows]


async def create_provider(pool: asyncpg.Pool, fields: dict[str, Any]) -> dict[str, Any]:
    """A provider at a clinic offering the given services; the zone defaults to the clinic's."""
    async with pool.acquire() as connection, connection.transaction():
        clinic_zone = await connection.fetchval(
            "SELECT timezone FROM clinics WHERE id = $1 AND deleted_at IS NULL", fields["clinic_id"]
        )
        if clinic_zone is None:
            raise NotFound("No such clinic.")
        await _require_services(connection, fields["service_ids"])
        row = await connection.fetchrow(
            "INSERT INTO providers (id, user_id, clinic_id, display_name, timezone) VALUES ($1, $2, $3, $4, $5) "
            f"RETURNING {PROVIDER_COLUMNS}",
            uuid.uuid4(), fields["user_id"], fields["clinic_id"], fields["display_name"],
            fields.get("timezone") or clinic_zone,
        )
        await connection.executemany(
            "INSERT INTO provider_services (provider_id, service_id) VALUES ($1, $2)",
            [(row["id"], service_id) for service_id in fields["service_ids"]],
        )
        return dict(row) | {"service_ids": list(fields["service_ids"])}


async def _require_services(connection: asyncpg.Connection, service_ids: list[uuid.UUID]) -> None:
    found = await connection.fetchval(
        "SELECT count(*) FROM services WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL", service_ids
    )
    if found != len(set(service_ids)):
        raise NotFound("One of the services does not exist.")
