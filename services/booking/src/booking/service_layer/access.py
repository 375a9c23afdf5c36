"""Who may see and act on what, answered by the owning service on every query (the gateway checks roles only).

A client sees their own appointments, a provider the appointments and schedule of the provider record linked to
their user, an admin everything. Anything else reads as "no such resource".
"""

from __future__ import annotations

import uuid
from typing import Protocol

from booking.adapters.catalog_repository import CatalogRepository
from booking.domain.errors import NotFound
from smartslot_common.http.identity import Caller


class Owned(Protocol):
    """An appointment as far as access cares: whose it is."""

    @property
    def client_id(self) -> uuid.UUID: ...
    @property
    def provider_id(self) -> uuid.UUID: ...


async def provider_of_user(providers: CatalogRepository, user_id: uuid.UUID) -> uuid.UUID | None:
    """The live provider record linked to a provider user, if any."""
    return await providers.provider_of_user(user_id)


async def require_provider_access(providers: CatalogRepository, caller: Caller, provider_id: uuid.UUID) -> None:
    """Admins may manage any provider's schedule; a provider only their own; others get `404`."""
    if caller.is_admin:
        return
    if caller.role == "provider" and await providers.provider_of_user(caller.user_id) == provider_id:
        return
    raise NotFound("No such provider.")


async def may_see_appointment(providers: CatalogRepository, caller: Caller, appointment: Owned) -> bool:
    """Its client, its provider, or an admin."""
    if caller.is_admin:
        return True
    if caller.role == "client":
        return appointment.client_id == caller.user_id
    if caller.role == "provider":
        return await providers.provider_of_user(caller.user_id) == appointment.provider_id
    return False
