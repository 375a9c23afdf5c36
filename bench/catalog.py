"""Benchmark data: a catalog made through the API, and many slots inserted in bulk.

Slots are written with COPY for speed: generating tens of thousands of them through working hours would measure
set-up, not booking. Everything else goes through the public API.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from smartslot_common.api_client import ApiClient


@dataclass(frozen=True)
class BenchCatalog:
    """A service offered by some providers, each with slots far enough ahead."""

    service_id: uuid.UUID
    provider_ids: list[uuid.UUID]


async def _created(answer) -> dict:
    if answer.status != 201:
        raise RuntimeError(f"benchmark set-up refused: {answer.status} {answer.body}")
    return answer.body


async def make_catalog(api: ApiClient, admin: str, providers: int) -> BenchCatalog:
    """A service and `providers` providers at one clinic, through the API."""
    service = await _created(await api.call("POST", "/v1/services", admin, {
        "name": f"Bench {secrets.token_hex(3)}", "duration_minutes": 15, "price_cents": 1000, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"}}))
    clinic = await _created(await api.call("POST", "/v1/clinics", admin, {"name": "Bench", "timezone": "UTC"}))
    provider_ids = []
    for number in range(providers):
        user = await _created(await api.call("POST", "/v1/admin/users", admin, {
            "email": f"bench-{secrets.token_hex(4)}@example.com", "password": secrets.token_urlsafe(12),
            "name": f"Provider {number}", "role": "provider"}))
        provider = await _created(await api.call("POST", "/v1/providers", admin, {
            "user_id": user["id"], "clinic_id": clinic["id"], "display_name": f"Provider {number}",
            "service_ids": [service["id"]]}))
        provider_ids.append(uuid.UUID(provider["id"]))
    return BenchCatalog(uuid.UUID(service["id"]), provider_ids)


async def add_slots(database_url: str, catalog: BenchCatalog, per_provider: int, capacity: int = 1) -> list[uuid.UUID]:
    """`per_provider` consecutive 15-minute slots for each provider, starting tomorrow."""
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    rows = [
        (uuid.uuid4(), provider, catalog.service_id, start + timedelta(minutes=15 * n),
         start + timedelta(minutes=15 * (n + 1)), capacity, "ad_hoc")
        for provider in catalog.provider_ids
        for n in range(per_provider)
    ]
    connection = await asyncpg.connect(database_url)
    try:
        await connection.copy_records_to_table(
            "slots", schema_name="booking", records=rows,
            columns=["id", "provider_id", "service_id", "starts_at", "ends_at", "capacity", "origin"],
        )
    finally:
        await connection.close()
    return [row[0] for row in rows]
