"""The catalog's tables (clinics, services, providers and what they offer), through asyncpg.

Rows a delete depends on are row-locked in a fixed way so that a concurrent create cannot slip past it: creators
row-lock what they attach to `FOR SHARE`, deleters `FOR NO KEY UPDATE` (which leaves the foreign-key checks of
concurrent holds alone). Reads work on a pool outside any transaction; writes on the unit of work's connection.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import asyncpg

from booking.domain.appointment import CONFIRMED_STATUS, HOLD_STATUS
from booking.domain.catalog import Clinic, NewProvider, NewService, Page, PageRequest, Provider, RetiredSlot, Service
from smartslot_common.db import ConnectionOrPool, fetch_one, fetch_optional

ItemT = TypeVar("ItemT", Clinic, Service, Provider)
Owner = Literal["provider_id", "service_id"]  # whose future slots and appointments a delete looks at
HOLD_OR_BOOKING = f"('{HOLD_STATUS}', '{CONFIRMED_STATUS}')"  # the statuses whose appointment occupies a seat

CLINIC_COLUMNS = "id, name, timezone, address, created_at"
SERVICE_COLUMNS = "id, name, duration_minutes, price_cents, currency, cancellation_policy, created_at"
PROVIDER_COLUMNS = "id, user_id, clinic_id, display_name, timezone, created_at"
# A provider's offered services as a list; deleted services are no longer offered.
PROVIDER_SERVICE_IDS = (
    "ARRAY(SELECT ps.service_id FROM provider_services ps JOIN services s ON s.id = ps.service_id "
    "AND s.deleted_at IS NULL WHERE ps.provider_id = providers.id ORDER BY ps.service_id) AS service_ids"
)
PROVIDER_SELECT = f"SELECT {PROVIDER_COLUMNS}, {PROVIDER_SERVICE_IDS} FROM providers"
OFFERS_SERVICE = (
    "EXISTS (SELECT 1 FROM provider_services ps JOIN services s ON s.id = ps.service_id "
    "AND s.deleted_at IS NULL WHERE ps.provider_id = providers.id AND ps.service_id = ${})"
)


class CatalogRepository(ABC):
    """Clinics, services and providers: the live ones, and the writes that create, change and retire them."""

    # --- reads ---

    @abstractmethod
    async def clinics(self, page: PageRequest) -> Page[Clinic]:
        """Live clinics by name."""

    @abstractmethod
    async def clinic(self, clinic_id: uuid.UUID) -> Clinic | None:
        """A live clinic."""

    @abstractmethod
    async def services(self, page: PageRequest) -> Page[Service]:
        """Live services by name."""

    @abstractmethod
    async def service(self, service_id: uuid.UUID) -> Service | None:
        """A live service."""

    @abstractmethod
    async def providers(
        self, page: PageRequest, service_id: uuid.UUID | None = None, clinic_id: uuid.UUID | None = None
    ) -> Page[Provider]:
        """Live providers by display name, optionally of one clinic or offering one service."""

    @abstractmethod
    async def provider(self, provider_id: uuid.UUID) -> Provider | None:
        """A live provider with the services it offers."""

    @abstractmethod
    async def provider_of_user(self, user_id: uuid.UUID) -> uuid.UUID | None:
        """The live provider record linked to a provider user."""

    # --- writes ---

    @abstractmethod
    async def add_clinic(self, name: str, timezone: str, address: str | None) -> Clinic:
        """Store a new clinic."""

    @abstractmethod
    async def update_clinic(self, clinic_id: uuid.UUID, changes: Mapping[str, object]) -> Clinic | None:
        """Set `changes` (validated field names) on a live clinic; None when there is none."""

    @abstractmethod
    async def lock_clinic(self, clinic_id: uuid.UUID) -> bool:
        """Row-lock a live clinic against creators attaching to it; False when there is none."""

    @abstractmethod
    async def lock_clinic_shared(self, clinic_id: uuid.UUID) -> str | None:
        """Row-lock a live clinic `FOR SHARE` (a provider is being attached) and return its zone; None if none."""

    @abstractmethod
    async def count_live_providers(self, clinic_id: uuid.UUID) -> int:
        """How many live providers work at the clinic."""

    @abstractmethod
    async def retire_clinic(self, clinic_id: uuid.UUID) -> None:
        """Soft-delete the clinic."""

    @abstractmethod
    async def add_service(self, service: NewService) -> Service:
        """Store a new service."""

    @abstractmethod
    async def update_service(self, service_id: uuid.UUID, changes: Mapping[str, object]) -> Service | None:
        """Set `changes` (validated field names) on a live service; None when there is none."""

    @abstractmethod
    async def lock_service(self, service_id: uuid.UUID) -> bool:
        """Row-lock a live service against creators attaching to it; False when there is none."""

    @abstractmethod
    async def lock_services_shared(self, service_ids: list[uuid.UUID]) -> int:
        """Row-lock the live services among `service_ids` `FOR SHARE`; return how many there are."""

    @abstractmethod
    async def retire_service(self, service_id: uuid.UUID) -> None:
        """Soft-delete the service and drop the weekly rules offering it."""

    @abstractmethod
    async def add_provider(self, provider: NewProvider, timezone: str) -> Provider | None:
        """Store a new provider with the services it offers; None when the user already is a live provider."""

    @abstractmethod
    async def lock_provider(self, provider_id: uuid.UUID) -> bool:
        """Row-lock a live provider against concurrent schedule changes; False when there is none."""

    @abstractmethod
    async def retire_provider(self, provider_id: uuid.UUID) -> None:
        """Soft-delete the provider."""

    @abstractmethod
    async def retire_future_slots(self, owner: Owner, owner_id: uuid.UUID) -> list[RetiredSlot]:
        """Mark the future open slots of a provider or service deleted; return them.

        Done *before* looking for live appointments: it waits for any hold in flight on those slots, and every hold
        after it fails its compare-and-set, so the look that follows sees every booking there will be.
        """

    @abstractmethod
    async def future_live_appointments(self, owner: Owner, owner_id: uuid.UUID) -> list[uuid.UUID]:
        """The future held or booked appointments of a provider or service, by start."""


class PostgresCatalogRepository(CatalogRepository):
    """The catalog in PostgreSQL; a pool for reads, the unit of work's connection for writes."""

    def __init__(self, connection: ConnectionOrPool) -> None:
        self._db = connection

    async def clinics(self, page: PageRequest) -> Page[Clinic]:
        rows = await self._page(f"SELECT {CLINIC_COLUMNS} FROM clinics", "name", [], [], page)
        return _paged([Clinic(**row) for row in rows], page, "name")

    async def clinic(self, clinic_id: uuid.UUID) -> Clinic | None:
        row = await self._live(f"SELECT {CLINIC_COLUMNS} FROM clinics", clinic_id)
        return Clinic(**row) if row else None

    async def services(self, page: PageRequest) -> Page[Service]:
        rows = await self._page(f"SELECT {SERVICE_COLUMNS} FROM services", "name", [], [], page)
        return _paged([Service(**row) for row in rows], page, "name")

    async def service(self, service_id: uuid.UUID) -> Service | None:
        row = await self._live(f"SELECT {SERVICE_COLUMNS} FROM services", service_id)
        return Service(**row) if row else None

    async def providers(
        self, page: PageRequest, service_id: uuid.UUID | None = None, clinic_id: uuid.UUID | None = None
    ) -> Page[Provider]:
        conditions: list[str] = []
        args: list[Any] = []
        if clinic_id is not None:
            args.append(clinic_id)
            conditions.append(f"clinic_id = ${len(args)}")
        if service_id is not None:
            args.append(service_id)
            conditions.append(OFFERS_SERVICE.format(len(args)))
        rows = await self._page(PROVIDER_SELECT, "display_name", conditions, args, page)
        return _paged([Provider(**row) for row in rows], page, "display_name")

    async def provider(self, provider_id: uuid.UUID) -> Provider | None:
        row = await self._live(PROVIDER_SELECT, provider_id)
        return Provider(**row) if row else None

    async def provider_of_user(self, user_id: uuid.UUID) -> uuid.UUID | None:
        return await provider_of_user(self._db, user_id)

    async def add_clinic(self, name: str, timezone: str, address: str | None) -> Clinic:
        row = await fetch_one(
            self._db,
            f"INSERT INTO clinics (id, name, timezone, address) VALUES ($1, $2, $3, $4) RETURNING {CLINIC_COLUMNS}",
            uuid.uuid4(), name, timezone, address,
        )
        return Clinic(**dict(row))

    async def update_clinic(self, clinic_id: uuid.UUID, changes: Mapping[str, object]) -> Clinic | None:
        row = await self._update("clinics", CLINIC_COLUMNS, clinic_id, changes)
        return Clinic(**row) if row else None

    async def lock_clinic(self, clinic_id: uuid.UUID) -> bool:
        return await self._lock_live("clinics", clinic_id)

    async def lock_clinic_shared(self, clinic_id: uuid.UUID) -> str | None:
        return await fetch_optional(
            self._db, str, "SELECT timezone FROM clinics WHERE id = $1 AND deleted_at IS NULL FOR SHARE", clinic_id
        )

    async def count_live_providers(self, clinic_id: uuid.UUID) -> int:
        count: int = await self._db.fetchval(
            "SELECT count(*) FROM providers WHERE clinic_id = $1 AND deleted_at IS NULL", clinic_id
        )
        return count

    async def retire_clinic(self, clinic_id: uuid.UUID) -> None:
        await self._db.execute("UPDATE clinics SET deleted_at = now() WHERE id = $1", clinic_id)

    async def add_service(self, service: NewService) -> Service:
        row = await fetch_one(
            self._db,
            "INSERT INTO services (id, name, duration_minutes, price_cents, currency, cancellation_policy) "
            f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SERVICE_COLUMNS}",
            uuid.uuid4(), service.name, service.duration_minutes, service.price_cents, service.currency,
            service.cancellation_policy,
        )
        return Service(**dict(row))

    async def update_service(self, service_id: uuid.UUID, changes: Mapping[str, object]) -> Service | None:
        row = await self._update("services", SERVICE_COLUMNS, service_id, changes)
        return Service(**row) if row else None

    async def lock_service(self, service_id: uuid.UUID) -> bool:
        return await self._lock_live("services", service_id)

    async def lock_services_shared(self, service_ids: list[uuid.UUID]) -> int:
        found = await self._db.fetch(
            "SELECT id FROM services WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL FOR SHARE", service_ids
        )
        return len(found)

    async def retire_service(self, service_id: uuid.UUID) -> None:
        await self._db.execute("UPDATE services SET deleted_at = now() WHERE id = $1", service_id)
        await self._db.execute("DELETE FROM working_hours WHERE service_id = $1", service_id)

    async def add_provider(self, provider: NewProvider, timezone: str) -> Provider | None:
        try:
            row = await fetch_one(
                self._db,
                "INSERT INTO providers (id, user_id, clinic_id, display_name, timezone) VALUES ($1, $2, $3, $4, $5) "
                f"RETURNING {PROVIDER_COLUMNS}",
                uuid.uuid4(), provider.user_id, provider.clinic_id, provider.display_name, timezone,
            )
        except asyncpg.UniqueViolationError:  # providers_live_user: one live provider per user
            return None
        await self._db.executemany(
            "INSERT INTO provider_services (provider_id, service_id) VALUES ($1, $2)",
            [(row["id"], service_id) for service_id in provider.offered],
        )
        return Provider(**dict(row), service_ids=provider.offered)

    async def lock_provider(self, provider_id: uuid.UUID) -> bool:
        return await self._lock_live("providers", provider_id)

    async def retire_provider(self, provider_id: uuid.UUID) -> None:
        await self._db.execute("UPDATE providers SET deleted_at = now() WHERE id = $1", provider_id)

    async def retire_future_slots(self, owner: Owner, owner_id: uuid.UUID) -> list[RetiredSlot]:
        rows = await self._db.fetch(
            "UPDATE slots SET status = 'deleted', version = version + 1, updated_at = now() "
            f"WHERE {_column(owner)} = $1 AND starts_at > clock_timestamp() AND status = 'open' "
            "RETURNING provider_id, service_id",
            owner_id,
        )
        return [RetiredSlot(row["provider_id"], row["service_id"]) for row in rows]

    async def future_live_appointments(self, owner: Owner, owner_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self._db.fetch(
            f"SELECT id FROM appointments WHERE {_column(owner)} = $1 AND status IN {HOLD_OR_BOOKING} "
            "AND starts_at > clock_timestamp() ORDER BY starts_at, id",
            owner_id,
        )
        return [row["id"] for row in rows]

    # --- helpers ---

    async def _page(
        self, select: str, sort: str, conditions: list[str], args: list[Any], page: PageRequest
    ) -> list[dict[str, Any]]:
        """Keyset pagination on `(sort, id)`: stable while rows are added, and an index range scan at any depth.
        One row more than asked for tells whether another page follows."""
        args = list(args)
        conditions = ["deleted_at IS NULL", *conditions]
        if page.after is not None:
            args.extend(page.after)
            conditions.append(f"({sort}, id) > (${len(args) - 1}, ${len(args)})")
        args.append(page.limit + 1)
        rows = await self._db.fetch(
            f"{select} WHERE {' AND '.join(conditions)} ORDER BY {sort}, id LIMIT ${len(args)}", *args
        )
        return [dict(row) for row in rows]

    async def _live(self, select: str, row_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self._db.fetchrow(f"{select} WHERE id = $1 AND deleted_at IS NULL", row_id)
        return dict(row) if row else None

    async def _update(
        self, table: str, columns: str, row_id: uuid.UUID, changes: Mapping[str, object]
    ) -> dict[str, Any] | None:
        """Set `changes` on a live row (the keys are validated field names, never user text); one statement."""
        assignments = ", ".join(f"{column} = ${index}" for index, column in enumerate(changes, start=2))
        sql = (
            f"UPDATE {table} SET {assignments} WHERE id = $1 AND deleted_at IS NULL RETURNING {columns}"
            if changes else f"SELECT {columns} FROM {table} WHERE id = $1 AND deleted_at IS NULL"
        )
        row = await self._db.fetchrow(sql, row_id, *changes.values())
        return dict(row) if row else None

    async def _lock_live(self, table: str, row_id: uuid.UUID) -> bool:
        return bool(await self._db.fetchval(
            f"SELECT true FROM {table} WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE", row_id
        ))


def _column(owner: Owner) -> str:
    assert owner in ("provider_id", "service_id")  # a column name goes into the SQL: never anything else
    return owner


def _paged(items: list[ItemT], page: PageRequest, sort: str) -> Page[ItemT]:
    """The first `page.limit` items, and the key to continue after when there were more."""
    kept = items[: page.limit]
    if len(items) <= page.limit:
        return Page(kept, None)
    last = kept[-1]
    return Page(kept, (getattr(last, sort), last.id))


async def provider_of_user(connection: ConnectionOrPool, user_id: uuid.UUID) -> uuid.UUID | None:
    """The live provider record linked to a provider user, if any."""
    return await fetch_optional(
        connection, uuid.UUID, "SELECT id FROM providers WHERE user_id = $1 AND deleted_at IS NULL", user_id
    )
