"""Offers in PostgreSQL: the durable timers of the waitlist, and the query that picks the next entry.

Every move is a compare-and-set on the row's state (and, for requests, its attempt); deadlines are compared with the
database clock. Callers hold the slot's lock (`SeatRepository.lock_slot`) first.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from smartslot_common.contracts.payloads import WaitlistOfferPayload
from smartslot_common.db import Connection, fetch_one, fetch_optional, fetch_value
from waitlist.domain.commands import SendHold
from waitlist.domain.model import FreeSeat
from waitlist.domain.offers import Candidate, EarlyOutcome, Offer, OfferMove
from waitlist.domain.states import EntryState, OfferState

OFFER_COLUMNS = (
    "id, seat_id, slot_id, entry_id, client_id, status, attempt, ttl_seconds, client_email, client_name, "
    "appointment_id, deadline, predecessor_id, available_at, offered_at, decided_at, failure"
)
# An entry still eligible for slot $3: waiting, inside its window, not passed over ($5), no offer open elsewhere, and
# its client never held or declined this slot.
_ELIGIBLE = """
  AND e.status = 'waiting' AND e.service_id = $1 AND (e.provider_id IS NULL OR e.provider_id = $2)
  AND (e.window_from IS NULL OR e.window_from <= $4) AND (e.window_to IS NULL OR $4 < e.window_to)
  AND NOT (e.id = ANY($5::uuid[]))
  AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.entry_id = e.id AND o.status IN ('requesting', 'pending'))
  AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.slot_id = $3 AND o.client_id = e.client_id
                  AND o.status IN ('requesting', 'pending', 'accepted', 'expired'))
ORDER BY e.priority DESC, e.created_at, e.id LIMIT 1
"""
# The first of the three kinds' heads (a slot's own queue, the provider's, the service's), each read from its own
# index in queue order, so a decision costs a few index probes however long the waitlist is.
CANDIDATE = f"""
SELECT id, client_id, client_email, client_name FROM (
  (SELECT e.* FROM entries e WHERE e.slot_id = $3 {_ELIGIBLE})
  UNION ALL
  (SELECT e.* FROM entries e WHERE e.slot_id IS NULL AND e.provider_id = $2 {_ELIGIBLE})
  UNION ALL
  (SELECT e.* FROM entries e WHERE e.slot_id IS NULL AND e.provider_id IS NULL {_ELIGIBLE})
) heads
WHERE $4 > clock_timestamp()
ORDER BY priority DESC, created_at, id LIMIT 1
"""
_LEASE = "clock_timestamp() + $%d::float8 * interval '1 second'"


class _EntryTaken(Exception):
    """The candidate stopped waiting between the query and the claim."""


def to_offer(row: asyncpg.Record) -> Offer:
    """An offer row (with `overdue` if the query computed it) as the domain's `Offer`."""
    return Offer(
        row["id"], row["seat_id"], row["slot_id"], row["entry_id"], row["client_id"], OfferState(row["status"]),
        row["ttl_seconds"], row["available_at"], row["attempt"], row["client_email"], row["client_name"],
        row["appointment_id"], row["deadline"], row["predecessor_id"], row["offered_at"], row["decided_at"],
        row["failure"], bool(row.get("overdue")),
    )


def _maybe(row: asyncpg.Record | None) -> Offer | None:
    return to_offer(row) if row is not None else None


class OfferRepository(abc.ABC):
    """Offers, and the query that picks the next entry in turn."""

    @abc.abstractmethod
    async def candidate(self, seat: FreeSeat, passed_over: Sequence[uuid.UUID] = ()) -> Candidate | None:
        """The first entry in turn for the seat (`domain.matching`'s rules), skipping `passed_over`."""

    @abc.abstractmethod
    async def add_request(self, offer: Offer, lease_seconds: float) -> Offer | None:
        """Record a `requesting` offer leased to its sender; None, and nothing written, when its entry stopped
        waiting or got another offer meanwhile."""

    @abc.abstractmethod
    async def live_on_seat(self, seat_id: uuid.UUID) -> list[Offer]:
        """The seat's requesting and pending offers, locked, with `overdue` on the database clock."""

    @abc.abstractmethod
    async def get(self, offer_id: uuid.UUID) -> Offer | None:
        """The offer, locked."""

    @abc.abstractmethod
    async def by_appointment(self, appointment_id: uuid.UUID) -> Offer | None:
        """The offer booking made this hold for, locked."""

    @abc.abstractmethod
    async def apply(self, move: OfferMove) -> Offer | None:
        """The move as a compare-and-set: the offer as moved, or None when it had moved already."""

    @abc.abstractmethod
    async def next_attempt(self, offer: Offer, lease_seconds: float) -> bool:
        """A requesting offer's next attempt (a new Idempotency-Key) with a renewed lease; False if it moved."""

    @abc.abstractmethod
    async def recheck_later(self, offer_id: uuid.UUID, seconds: float) -> None:
        """The sweeper looks at this overdue offer again no earlier than `seconds` from now."""

    @abc.abstractmethod
    async def is_past(self, instant: datetime) -> bool:
        """`instant` has passed on the database clock."""

    @abc.abstractmethod
    async def due(self, limit: int) -> list[Offer]:
        """Pending offers past their deadline, locked; those another process holds are skipped."""

    @abc.abstractmethod
    async def claim_stale_requests(self, lease_seconds: float, limit: int) -> list[SendHold]:
        """Requesting offers whose sender's lease ran out, leased to this process now."""

    @abc.abstractmethod
    async def requested(self, offer_id: uuid.UUID) -> Offer | None:
        """The offer while it is `requesting` (not locked)."""

    @abc.abstractmethod
    async def payload(self, offer_id: uuid.UUID) -> WaitlistOfferPayload:
        """What an offer event says about the offer."""

    @abc.abstractmethod
    async def remember_early_outcome(self, appointment_id: uuid.UUID, outcome: EarlyOutcome) -> None:
        """Booking's word on a hold no offer knows yet."""

    @abc.abstractmethod
    async def early_outcome(self, appointment_id: uuid.UUID) -> EarlyOutcome | None:
        """Booking's word on this hold that came before the offer knew it, if any."""

    @abc.abstractmethod
    async def last_ended(self, seat_id: uuid.UUID) -> datetime | None:
        """When the seat's last expired offer ended."""

    @abc.abstractmethod
    async def made_for_seat(self, seat_id: uuid.UUID) -> int:
        """How many offers of the seat reached their client."""

    @abc.abstractmethod
    async def requesting_on_slot(self, slot_id: uuid.UUID) -> bool:
        """A hold request is in flight on the slot."""

    @abc.abstractmethod
    async def fill_ratio(self) -> float | None:
        """Accepted over decided offers; None before any was decided."""


class PostgresOfferRepository(OfferRepository):
    """The offers of the waitlist's schema, on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def candidate(self, seat: FreeSeat, passed_over: Sequence[uuid.UUID] = ()) -> Candidate | None:
        """The first waiting entry the seat matches (domain.matching's rules, in SQL)."""
        row = await self._connection.fetchrow(
            CANDIDATE, seat.service_id, seat.provider_id, seat.slot_id, seat.starts_at, list(passed_over)
        )
        return Candidate(row["id"], row["client_id"], row["client_email"], row["client_name"]) if row else None

    async def add_request(self, offer: Offer, lease_seconds: float) -> Offer | None:
        """The decision as a `requesting` offer leased to its sender, with its entry locked for the rest of the
        transaction; None, and nothing written, when the entry stopped waiting or got an offer meanwhile."""
        try:
            # A savepoint: losing the entry to a concurrent decision undoes this part only.
            async with self._connection.transaction():
                if not await _lock_waiting_entry(self._connection, offer.entry_id):
                    raise _EntryTaken
                return to_offer(await fetch_one(
                    self._connection,
                    "INSERT INTO offers (id, seat_id, slot_id, entry_id, client_id, status, ttl_seconds, client_email, "
                    "client_name, predecessor_id, available_at, lease_until) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                    f"{_LEASE % 12}) RETURNING {OFFER_COLUMNS}",
                    offer.id, offer.seat_id, offer.slot_id, offer.entry_id, offer.client_id, offer.state.value,
                    offer.ttl_seconds, offer.client_email, offer.client_name, offer.predecessor_id,
                    offer.available_at, lease_seconds,
                ))
        except (asyncpg.UniqueViolationError, _EntryTaken):
            return None

    async def live_on_seat(self, seat_id: uuid.UUID) -> list[Offer]:
        """The seat's requesting and pending offers (locked), each with `overdue` on the database clock."""
        rows = await self._connection.fetch(
            f"SELECT {OFFER_COLUMNS}, (status = 'pending' AND deadline <= clock_timestamp()) AS overdue "
            "FROM offers WHERE seat_id = $1 AND status IN ('requesting', 'pending') FOR UPDATE",
            seat_id,
        )
        return [to_offer(row) for row in rows]

    async def get(self, offer_id: uuid.UUID) -> Offer | None:
        """The offer, locked for the rest of the transaction."""
        return _maybe(await self._connection.fetchrow(
            f"SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1 FOR UPDATE", offer_id
        ))

    async def by_appointment(self, appointment_id: uuid.UUID) -> Offer | None:
        """The offer booking made this hold for, locked; None for a hold no offer knows."""
        return _maybe(await self._connection.fetchrow(
            f"SELECT {OFFER_COLUMNS} FROM offers WHERE appointment_id = $1 FOR UPDATE", appointment_id
        ))

    async def apply(self, move: OfferMove) -> Offer | None:
        """Write the move as a compare-and-set; the offer as moved, or None when it had moved already."""
        stamp = ", decided_at = clock_timestamp()" if move.current is OfferState.PENDING else ""
        stamp += ", offered_at = clock_timestamp()" if move.target is OfferState.PENDING else ""
        return _maybe(await self._connection.fetchrow(
            f"UPDATE offers SET status = $3, lease_until = NULL{stamp}, "
            "appointment_id = coalesce($5, appointment_id), deadline = coalesce($6, deadline), "
            "failure = coalesce($7, failure) "
            "WHERE id = $1 AND status = $2 AND ($4::int IS NULL OR attempt = $4) "
            f"RETURNING {OFFER_COLUMNS}",
            move.offer_id, move.current.value, move.target.value, move.attempt, move.appointment_id, move.deadline,
            move.failure,
        ))

    async def next_attempt(self, offer: Offer, lease_seconds: float) -> bool:
        """Move a requesting offer to its next attempt (a new Idempotency-Key), renewing the sender's lease."""
        return bool(await self._connection.fetchval(
            f"UPDATE offers SET attempt = attempt + 1, lease_until = {_LEASE % 3} "
            "WHERE id = $1 AND status = 'requesting' AND attempt = $2 RETURNING true",
            offer.id, offer.attempt, lease_seconds,
        ))

    async def recheck_later(self, offer_id: uuid.UUID, seconds: float) -> None:
        """The sweeper looks at this overdue offer again no earlier than `seconds` from now."""
        await self._connection.execute(f"UPDATE offers SET recheck_at = {_LEASE % 2} WHERE id = $1", offer_id, seconds)

    async def is_past(self, instant: datetime) -> bool:
        return await fetch_value(self._connection, bool, "SELECT $1::timestamptz <= clock_timestamp()", instant)

    async def due(self, limit: int) -> list[Offer]:
        """Pending offers past their deadline (database clock), locked; rows another process holds are skipped."""
        rows = await self._connection.fetch(
            f"SELECT {OFFER_COLUMNS} FROM offers WHERE status = 'pending' AND deadline <= clock_timestamp() "
            "AND (recheck_at IS NULL OR recheck_at <= clock_timestamp()) "
            "ORDER BY deadline LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        return [to_offer(row) for row in rows]

    async def claim_stale_requests(self, lease_seconds: float, limit: int) -> list[SendHold]:
        """Requesting offers whose sender's lease ran out (it died or gave up): leased to this process now."""
        rows = await self._connection.fetch(
            f"UPDATE offers SET lease_until = {_LEASE % 1} WHERE id IN ("
            " SELECT id FROM offers WHERE status = 'requesting' AND lease_until <= clock_timestamp()"
            " ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id, slot_id",
            lease_seconds, limit,
        )
        return [SendHold(row["id"], row["slot_id"]) for row in rows]

    async def requested(self, offer_id: uuid.UUID) -> Offer | None:
        """A requesting offer as its sender needs it (no lock: the compare-and-set on state and attempt decides)."""
        return _maybe(await self._connection.fetchrow(
            f"SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1 AND status = 'requesting'", offer_id
        ))

    async def payload(self, offer_id: uuid.UUID) -> WaitlistOfferPayload:
        """Everything an offer event says: the offer, its seat, the slot's names and zone, the client's contact."""
        row = await fetch_one(
            self._connection,
            "SELECT o.id AS offer_id, o.entry_id, o.client_id, o.appointment_id, o.slot_id, s.service_id, "
            "s.provider_id, s.starts_at, o.deadline AS offer_expires_at, c.timezone, c.service_name, c.provider_name, "
            "c.clinic_name, o.client_email, o.client_name "
            "FROM offers o JOIN seats s ON s.id = o.seat_id LEFT JOIN slot_context c ON c.slot_id = o.slot_id "
            "WHERE o.id = $1",
            offer_id,
        )
        return WaitlistOfferPayload.model_validate(dict(row))

    async def remember_early_outcome(self, appointment_id: uuid.UUID, outcome: EarlyOutcome) -> None:
        """Booking confirmed or ended a waitlist hold no offer knows yet (its request is still being recorded)."""
        await self._connection.execute(
            "INSERT INTO early_outcomes (appointment_id, outcome) VALUES ($1, $2) "
            "ON CONFLICT (appointment_id) DO NOTHING",
            appointment_id, outcome.value,
        )

    async def early_outcome(self, appointment_id: uuid.UUID) -> EarlyOutcome | None:
        outcome = await fetch_optional(
            self._connection, str, "SELECT outcome FROM early_outcomes WHERE appointment_id = $1", appointment_id
        )
        return EarlyOutcome(outcome) if outcome is not None else None

    async def last_ended(self, seat_id: uuid.UUID) -> datetime | None:
        """When the seat's last expired offer ended (declined early, or at its deadline): the seat was free since."""
        return await fetch_optional(
            self._connection, datetime,
            "SELECT max(least(deadline, decided_at)) FROM offers WHERE seat_id = $1 AND status = 'expired'", seat_id,
        )

    async def made_for_seat(self, seat_id: uuid.UUID) -> int:
        """How many offers of this seat reached their client."""
        return await fetch_value(
            self._connection, int,
            "SELECT count(*) FROM offers WHERE seat_id = $1 AND status IN ('pending', 'accepted', 'expired')",
            seat_id,
        )

    async def requesting_on_slot(self, slot_id: uuid.UUID) -> bool:
        """A hold request is in flight on this slot."""
        return bool(await self._connection.fetchval(
            "SELECT true FROM offers WHERE slot_id = $1 AND status = 'requesting' LIMIT 1", slot_id
        ))

    async def fill_ratio(self) -> float | None:
        """Accepted over decided offers; None before any was decided."""
        row = await fetch_one(
            self._connection,
            "SELECT count(*) FILTER (WHERE status = 'accepted') AS accepted, "
            "count(*) FILTER (WHERE status IN ('accepted', 'expired')) AS decided FROM offers"
        )
        return float(row["accepted"] / row["decided"]) if row["decided"] else None


async def _lock_waiting_entry(connection: Connection, entry_id: uuid.UUID) -> bool:
    """Lock a still-waiting entry for the caller's transaction (a concurrent leave waits); False if not waiting."""
    return bool(await connection.fetchval(
        "UPDATE entries SET updated_at = clock_timestamp() WHERE id = $1 AND status = $2 RETURNING true",
        entry_id, EntryState.WAITING.value,
    ))
