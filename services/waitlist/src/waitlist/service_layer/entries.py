"""Joining, listing and leaving the waitlist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from smartslot_common.db import Connection
from smartslot_common.http.identity import Caller
from smartslot_common.messaging import add_to_outbox
from smartslot_common.unit_of_work import in_transaction
from waitlist import metrics
from waitlist.adapters import entries as repo
from waitlist.domain.errors import DuplicateEntry, EntryBusy, EntryNotFound, EntryQuota
from waitlist.domain.model import CANCELLED, OFFERED, WAITING, Wish, check_wish
from waitlist.service_layer.events import joined_event


async def join(pool: asyncpg.Pool, who: Caller, wish: Wish, max_live: int) -> asyncpg.Record:
    """A new waiting entry with its position; a live duplicate is refused, as is one past the client's cap."""
    check_wish(wish, await pool.fetchval("SELECT clock_timestamp()"))

    async def work(connection: Connection) -> asyncpg.Record:
        await repo.lock_client(connection, who.user_id)
        existing = await repo.live_duplicate(connection, who.user_id, wish)
        if existing is not None:
            raise DuplicateEntry(existing)
        if await repo.count_live(connection, who.user_id) >= max_live:
            raise EntryQuota(max_live)
        created = await repo.insert(connection, who.user_id, wish, who.email, who.name)
        entry = await repo.view(connection, created["id"])
        assert entry is not None  # inserted just above, in this transaction
        await add_to_outbox(connection, joined_event(entry))
        return entry

    try:
        entry = await in_transaction(pool, work)
    except asyncpg.UniqueViolationError:  # the same wish committed by a concurrent request of this client
        raise DuplicateEntry(None) from None
    metrics.ENTRIES_JOINED.inc()
    return entry


@dataclass(frozen=True)
class Listing:
    """Which entries to list: the caller's own (clients) or all (admins), by status, after a cursor."""

    status: str | None
    after: tuple[datetime, uuid.UUID] | None
    limit: int


async def list_entries(pool: asyncpg.Pool, who: Caller, wanted: Listing) -> tuple[list[asyncpg.Record], bool]:
    """One page of entries in join order, and whether more follow."""
    owner = None if who.is_admin else who.user_id
    rows = await repo.page(pool, owner, wanted.status, wanted.after, wanted.limit + 1)
    return rows[: wanted.limit], len(rows) > wanted.limit


async def leave(pool: asyncpg.Pool, who: Caller, entry_id: uuid.UUID) -> None:
    """The client leaves: a waiting entry becomes `cancelled`; a finished one stays as it is."""

    async def work(connection: Connection) -> None:
        entry = await repo.lock(connection, entry_id)
        if entry is None or entry["client_id"] != who.user_id:
            raise EntryNotFound("No such waitlist entry.")
        if entry["status"] == OFFERED:
            raise EntryBusy("A slot is held for you: confirm it, or cancel the held appointment to decline it.")
        if entry["status"] != WAITING:
            return
        if await repo.has_live_offer(connection, entry_id):
            raise EntryBusy("A slot is being offered to you right now; try again in a moment.")
        await repo.move(connection, entry_id, (WAITING,), CANCELLED)

    await in_transaction(pool, work)
