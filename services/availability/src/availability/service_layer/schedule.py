"""A provider's day: its slots and appointments from local midnight to local midnight, in its own time zone."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from availability.adapters import schedule
from availability.domain.days import LocalDay, local_day
from availability.domain.errors import NotFound
from smartslot_common.http.identity import Caller


async def day_view(
    read_pool: asyncpg.Pool, primary_pool: asyncpg.Pool, caller: Caller, provider_id: uuid.UUID, day: date
) -> dict[str, Any]:
    """`{date, timezone, starts_at, ends_at, hours, slots, appointments}` with local times; `NotFound` unless the
    caller is an admin or the provider's own user."""
    pool, provider = read_pool, await schedule.provider(read_pool, provider_id)
    if provider is None and read_pool is not primary_pool:  # created a moment ago: the replica may be behind
        pool, provider = primary_pool, await schedule.provider(primary_pool, provider_id)
    if provider is None or not _may_see(caller, provider):
        raise NotFound("No such provider.")
    local = local_day(day, ZoneInfo(provider["timezone"]))
    slots, appointments = await schedule.day(pool, provider_id, local.starts_at, local.ends_at)
    return {
        "date": day.isoformat(), "timezone": provider["timezone"],
        "starts_at": local.starts_at.astimezone(local.zone).isoformat(),
        "ends_at": local.ends_at.astimezone(local.zone).isoformat(), "hours": local.hours,
        "slots": [_localised(local, row) for row in slots],
        "appointments": [_localised(local, row) for row in appointments],
    }


def _may_see(caller: Caller, provider: asyncpg.Record) -> bool:
    """Admins see every provider's day, a provider only its own live record's."""
    if caller.is_admin:
        return True
    return caller.role == "provider" and provider["user_id"] == caller.user_id and provider["deleted_at"] is None


def _localised(local: LocalDay, row: asyncpg.Record) -> dict[str, Any]:
    """A row with every instant shown in the provider's zone and ids as text."""
    return {key: _shown(local, value) for key, value in row.items()}


def _shown(local: LocalDay, value: Any) -> Any:
    if isinstance(value, datetime):
        return local.local(value).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
