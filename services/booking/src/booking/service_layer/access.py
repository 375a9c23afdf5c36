"""Who may see and act on what, answered by the owning service on every query (the gateway checks roles only).

A client sees their own appointments, a provider the appointments and schedule of the provider record linked to
their user, an admin everything. Anything else reads as "no such resource".
"""

from __future__ import annotations

import uuid

import asyncpg

from booking.domain.errors import NotFound
from smartslot_common.db import ConnectionOrPool, fetch_optional
from smartslot_common.http.identity import Caller


async def provider_of_user(connection: ConnectionOrPool, user_id: uuid.UUID) -> uuid.UUID | None:
    """The live provider record linked to a provider user, if any."""
    return await fetch_optional(
        connection, uuid.UUID, "SELECT id FROM providers WHERE user_id = $1 AND deleted_at IS NULL", user_id
    )


async def require_provider_access(
    connection: ConnectionOrPool, caller: Caller, provider_id: uuid.UUID
) -> None:
    """Admins may manage any provider's schedule; a provider only their own; others get `404`."""
    if caller.is_admin:
        return
    if caller.role == "provider" and await provider_of_user(connection, caller.user_id) == provider_id:
        return
    raise NotFound("No such provider.")


async def may_see_appointment(
    connection: ConnectionOrPool, caller: Caller, appointment: asyncpg.Record
) -> bool:
    """Its client, its provider, or an admin."""
    if caller.is_admin:
        return True
    client_id: uuid.UUID = appointment["client_id"]
    provider_id: uuid.UUID = appointment["provider_id"]
    if caller.role == "client":
        return client_id == caller.user_id
    if caller.role == "provider":
        return await provider_of_user(connection, caller.user_id) == provider_id
    return False
