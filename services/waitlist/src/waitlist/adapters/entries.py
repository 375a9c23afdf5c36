"""Entries in PostgreSQL: joining, reading with queue positions, and state moves by compare-and-set."""

from __future__ import annotations

import abc
import uuid
from datetime import datetime

import asyncpg

from smartslot_common.db import Connection, fetch_optional, fetch_value
from waitlist.domain.errors import DuplicateEntry
from waitlist.domain.model import Entry, EntryView, LatestOffer, Wish
from waitlist.domain.states import LIVE_ENTRY, EntryState, OfferState, check_entry

ENTRY_COLUMNS = (
    "id, client_id, service_id, provider_id, slot_id, window_from, window_to, priority, status, "
    "client_email, client_name, created_at, updated_at"
)
# Rank among waiting entries with the same target, in queue order (priority, then join time, then id).
POSITION = """
CASE WHEN e.status = 'waiting' THEN 1 + (
    SELECT count(*) FROM entries o
    WHERE o.status = 'waiting' AND o.service_id = e.service_id
      AND o.provider_id IS NOT DISTINCT FROM e.provider_id AND o.slot_id IS NOT DISTINCT FROM e.slot_id
      AND (o.priority > e.priority
           OR (o.priority = e.priority AND (o.created_at, o.id) < (e.created_at, e.id)))
) END
"""
# The entry's latest offer that reached the client (a refused request never did).
LATEST_OFFER = """
LEFT JOIN LATERAL (
    SELECT id AS offer_id, status AS offer_status, slot_id AS offer_slot_id, appointment_id AS offer_appointment_id,
           deadline AS offer_expires_at
    FROM offers WHERE entry_id = e.id AND status IN ('pending', 'accepted', 'expired')
    ORDER BY offered_at DESC LIMIT 1
) latest ON true
"""
_LIVE = [state.value for state in LIVE_ENTRY]


def to_entry(row: asyncpg.Record) -> Entry:
    """An entry row as the domain's `Entry`."""
    wish = Wish(row["service_id"], row["provider_id"], row["slot_id"], row["window_from"], row["window_to"])
    return Entry(row["id"], row["client_id"], wish, row["priority"], row["created_at"], EntryState(row["status"]))


def to_view(row: asyncpg.Record) -> EntryView:
    """A row of `view`'s query (the entry, its position and its latest offer) as an `EntryView`."""
    offer = None
    if row["offer_id"] is not None:
        offer = LatestOffer(row["offer_id"], OfferState(row["offer_status"]), row["offer_slot_id"],
                            row["offer_appointment_id"], row["offer_expires_at"])
    return EntryView(to_entry(row), row["position"], row["updated_at"], offer, row["client_email"],
                     row["client_name"])


def _prefixed() -> str:
    return ", ".join(f"e.{column.strip()}" for column in ENTRY_COLUMNS.split(","))


_VIEW = f"SELECT {_prefixed()}, {POSITION} AS position, latest.* FROM entries e {LATEST_OFFER}"


class EntryRepository(abc.ABC):
    """Entries: joining, reading with queue positions, and state moves by compare-and-set."""

    @abc.abstractmethod
    async def lock_client(self, client_id: uuid.UUID) -> None:
        """Serialise one client's joins until the transaction ends."""

    @abc.abstractmethod
    async def count_live(self, client_id: uuid.UUID) -> int:
        """How many of the client's entries are waiting or offered."""

    @abc.abstractmethod
    async def live_duplicate(self, client_id: uuid.UUID, wish: Wish) -> uuid.UUID | None:
        """The client's live entry with exactly this wish, if any."""

    @abc.abstractmethod
    async def add(self, client_id: uuid.UUID, wish: Wish, email: str | None, name: str | None) -> uuid.UUID:
        """A new waiting entry, its id."""

    @abc.abstractmethod
    async def lock(self, entry_id: uuid.UUID) -> Entry | None:
        """The entry, locked."""

    @abc.abstractmethod
    async def view(self, entry_id: uuid.UUID) -> EntryView | None:
        """One entry with its position and latest offer."""

    @abc.abstractmethod
    async def page(
        self, client_id: uuid.UUID | None, state: EntryState | None, after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[EntryView]:
        """Up to `limit` entries in join order (a client's own, or everyone's), after the cursor."""

    @abc.abstractmethod
    async def move(self, entry_id: uuid.UUID, sources: tuple[EntryState, ...], target: EntryState) -> bool:
        """The entry from one of `sources` to `target`; False when it was in none of them."""

    @abc.abstractmethod
    async def has_live_offer(self, entry_id: uuid.UUID) -> bool:
        """An offer of this entry is being requested or is open."""

    @abc.abstractmethod
    async def expire_past_windows(self) -> int:
        """Waiting entries whose window is over expire; how many."""


class PostgresEntryRepository(EntryRepository):
    """The entries of the waitlist's schema, on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def lock_client(self, client_id: uuid.UUID) -> None:
        """Serialise one client's joins, so two at once cannot both pass the cap."""
        await self._connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"waitlist.client:{client_id}"
        )

    async def count_live(self, client_id: uuid.UUID) -> int:
        """How many of the client's entries are waiting or offered."""
        return await fetch_value(
            self._connection, int,
            "SELECT count(*) FROM entries WHERE client_id = $1 AND status = ANY($2::text[])", client_id, _LIVE,
        )

    async def live_duplicate(self, client_id: uuid.UUID, wish: Wish) -> uuid.UUID | None:
        """The client's live entry with exactly this wish, if any."""
        return await fetch_optional(
            self._connection, uuid.UUID,
            "SELECT id FROM entries WHERE client_id = $1 AND status = ANY($7::text[]) AND service_id = $2 "
            "AND provider_id IS NOT DISTINCT FROM $3 AND slot_id IS NOT DISTINCT FROM $4 "
            "AND window_from IS NOT DISTINCT FROM $5 AND window_to IS NOT DISTINCT FROM $6",
            client_id, wish.service_id, wish.provider_id, wish.slot_id, wish.window_from, wish.window_to, _LIVE,
        )

    async def add(self, client_id: uuid.UUID, wish: Wish, email: str | None, name: str | None) -> uuid.UUID:
        """A new waiting entry (join time on the database clock), its id; `DuplicateEntry` when the client has
        this wish live already."""
        entry_id = uuid.uuid4()
        try:
            await self._connection.execute(
                "INSERT INTO entries (id, client_id, service_id, provider_id, slot_id, window_from, window_to, "
                "client_email, client_name, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp(), clock_timestamp())",
                entry_id, client_id, wish.service_id, wish.provider_id, wish.slot_id, wish.window_from,
                wish.window_to, email, name,
            )
        except asyncpg.UniqueViolationError:  # the same wish committed by a concurrent request of this client
            raise DuplicateEntry(None) from None
        return entry_id

    async def lock(self, entry_id: uuid.UUID) -> Entry | None:
        """The entry, locked for the rest of the transaction."""
        row = await self._connection.fetchrow(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id = $1 FOR UPDATE", entry_id
        )
        return to_entry(row) if row is not None else None

    async def view(self, entry_id: uuid.UUID) -> EntryView | None:
        """One entry as the API shows it: with its position and latest offer."""
        row = await self._connection.fetchrow(f"{_VIEW} WHERE e.id = $1", entry_id)
        return to_view(row) if row is not None else None

    async def page(
        self, client_id: uuid.UUID | None, state: EntryState | None, after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[EntryView]:
        """Up to `limit` entries in join order (a client's own, or everyone's), after the cursor."""
        after_at, after_id = after if after else (None, None)
        rows = await self._connection.fetch(
            f"{_VIEW} WHERE ($1::uuid IS NULL OR e.client_id = $1) AND ($2::text IS NULL OR e.status = $2) "
            "AND ($3::timestamptz IS NULL OR (e.created_at, e.id) > ($3, $4)) "
            "ORDER BY e.created_at, e.id LIMIT $5",
            client_id, state.value if state is not None else None, after_at, after_id, limit,
        )
        return [to_view(row) for row in rows]

    async def move(self, entry_id: uuid.UUID, sources: tuple[EntryState, ...], target: EntryState) -> bool:
        """Compare-and-set the entry's state from one of `sources` (each allowed to become `target`); False when
        it was in none of them."""
        check_entry(sources, target)
        moved = await self._connection.fetchval(
            "UPDATE entries SET status = $3, updated_at = clock_timestamp() WHERE id = $1 "
            "AND status = ANY($2::text[]) RETURNING true",
            entry_id, [source.value for source in sources], target.value,
        )
        return bool(moved)

    async def has_live_offer(self, entry_id: uuid.UUID) -> bool:
        """An offer of this entry is being requested or is open."""
        return bool(await self._connection.fetchval(
            "SELECT true FROM offers WHERE entry_id = $1 AND status IN ('requesting', 'pending')", entry_id
        ))

    async def expire_past_windows(self) -> int:
        """Waiting entries whose window is over can never match again: `expired`; how many."""
        check_entry((EntryState.WAITING,), EntryState.EXPIRED)
        result = await self._connection.execute(
            "UPDATE entries e SET status = 'expired', updated_at = clock_timestamp() "
            "WHERE e.status = 'waiting' AND e.window_to <= clock_timestamp() "
            "AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.entry_id = e.id AND o.status IN ('requesting', 'pending'))"
        )
        return int(result.split()[-1])
