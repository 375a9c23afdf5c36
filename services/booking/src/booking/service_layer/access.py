"""Who may see and act on what, answered by the owning service on every query (the gateway checks roles only).

A client sees their own appointments, a provider the appointments and schedule of the provider record linked to
their user, an admin everything. Anything else reads as "no such resource".
"""

from __future__ import annotations

import uuid
from typing import Protocol, TypeAlias

from booking.adapters.catalog_repository import CatalogRepository, PostgresCatalogRepository
from booking.domain.errors import NotFound
from smartslot_common.db import ConnectionOrPool
from smartslot_common.http.identity import Caller
from smartslot_common.rows import Row

# Where the provider records are read: the unit of work's catalog, or (for callers not on a unit of work yet) a
# connection or pool.
Providers: TypeAlias = CatalogRepository | ConnectionOrPool


class Owned(Protocol):
    """An appointment as far as access cares: whose it is."""

    @property
    def client_id(self) -> uuid.UUID: ...
    @property
    def provider_id(self) -> uuid.UUID: ...


def _catalog(providers: Providers) -> CatalogRepository:
    return providers if isinstance(providers, CatalogRepository) else PostgresCatalogRepository(providers)


async def provider_of_user(providers: Providers, user_id: uuid.UUID) -> uuid.UUID | None:
    """The live provider record linked to a provider user, if any."""
    return await _catalog(providers).provider_of_user(user_id)


async def require_provider_access(providers: Providers, caller: Caller, provider_id: uuid.UUID) -> None:
    """Admins may manage any provider's schedule; a provider only their own; others get `404`."""
    if caller.is_admin:
        return
    if caller.role == "provider" and await provider_of_user(providers, caller.user_id) == provider_id:
        return
    raise NotFound("No such provider.")


async def may_see_appointment(providers: Providers, caller: Caller, appointment: Owned | Row) -> bool:
    """Its client, its provider, or an admin."""
    if caller.is_admin:
        return True
    client_id, provider_id = _owners(appointment)
    if caller.role == "client":
        return client_id == caller.user_id
    if caller.role == "provider":
        return await provider_of_user(providers, caller.user_id) == provider_id
    return False


def _owners(appointment: Owned | Row) -> tuple[uuid.UUID, uuid.UUID]:
    if hasattr(appointment, "client_id"):
        owned: Owned = appointment  # type: ignore[assignment]
        return owned.client_id, owned.provider_id
    row: Row = appointment  # a row read by column name: callers not on the unit of work yet
    return row["client_id"], row["provider_id"]
