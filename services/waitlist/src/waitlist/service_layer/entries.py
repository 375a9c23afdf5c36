"""Joining, listing and leaving the waitlist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from smartslot_common.http.identity import Caller
from waitlist import metrics
from waitlist.domain.errors import DuplicateEntry, EntryBusy, EntryNotFound, EntryQuota
from waitlist.domain.model import EntryView, Wish, check_wish
from waitlist.domain.states import EntryState
from waitlist.service_layer.events import joined_event
from waitlist.service_layer.unit_of_work import UnitOfWork


async def join(uow: UnitOfWork, who: Caller, wish: Wish, max_live: int) -> EntryView:
    """A new waiting entry with its position; a live duplicate is refused, as is one past the client's cap."""

    async def work(uow: UnitOfWork) -> EntryView:
        check_wish(wish, await uow.now())
        await uow.entries.lock_client(who.user_id)
        existing = await uow.entries.live_duplicate(who.user_id, wish)
        if existing is not None:
            raise DuplicateEntry(existing)
        if await uow.entries.count_live(who.user_id) >= max_live:
            raise EntryQuota(max_live)
        entry = await uow.entries.view(await uow.entries.add(who.user_id, wish, who.email, who.name))
        assert entry is not None  # inserted just above, in this transaction
        uow.record(joined_event(entry))
        return entry

    entry = await uow.run(work)
    metrics.ENTRIES_JOINED.inc()
    return entry


@dataclass(frozen=True)
class Listing:
    """Which entries to list: the caller's own (clients) or all (admins), by state, after a cursor."""

    state: EntryState | None
    after: tuple[datetime, uuid.UUID] | None
    limit: int


async def list_entries(uow: UnitOfWork, who: Caller, wanted: Listing) -> tuple[list[EntryView], bool]:
    """One page of entries in join order, and whether more follow."""
    owner = None if who.is_admin else who.user_id
    views = await uow.run(
        lambda uow: uow.entries.page(owner, wanted.state, wanted.after, wanted.limit + 1), transaction=False
    )
    return views[: wanted.limit], len(views) > wanted.limit


async def leave(uow: UnitOfWork, who: Caller, entry_id: uuid.UUID) -> None:
    """The client leaves: a waiting entry becomes `cancelled`; a finished one stays as it is."""

    async def work(uow: UnitOfWork) -> None:
        entry = await uow.entries.lock(entry_id)
        if entry is None or entry.client_id != who.user_id:
            raise EntryNotFound("No such waitlist entry.")
        if entry.state is EntryState.OFFERED:
            raise EntryBusy("A slot is held for you: confirm it, or cancel the held appointment to decline it.")
        if entry.state is not EntryState.WAITING:
            return
        if await uow.entries.has_live_offer(entry_id):
            raise EntryBusy("A slot is being offered to you right now; try again in a moment.")
        await uow.entries.move(entry_id, (EntryState.WAITING,), EntryState.CANCELLED)

    await uow.run(work)
