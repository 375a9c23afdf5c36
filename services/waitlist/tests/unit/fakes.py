"""The waitlist's unit of work, repositories and booking in memory, for unit tests of the service layer (fakes, not
mocks).

`FakeUnitOfWork` keeps everything in one `Store` with its own clock (`store.now`, the "database clock"): a
transaction works on it directly, a rollback puts back the copy taken when it began, a commit moves the recorded
events to `store.outbox`. The repositories follow the PostgreSQL ones' rules where a test can see them:
compare-and-set moves, the unique indexes on offers (one live offer per entry, one request and one pending offer per
seat, one offer per slot and entry), the candidate rules of `domain.matching`, deadlines on the store's clock.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from smartslot_common.contracts.payloads import WaitlistOfferPayload
from smartslot_common.messaging import Event
from smartslot_common.uow import AfterCommit, run_after_commit
from waitlist.adapters.booking import BookingPort, HoldAnswer, HoldRequest, Verdict
from waitlist.adapters.entries import EntryRepository
from waitlist.adapters.offers import OfferRepository
from waitlist.adapters.seats import SeatRepository
from waitlist.domain.commands import ReturnSlot, SendHold
from waitlist.domain.errors import DuplicateEntry
from waitlist.domain.matching import next_candidate, position
from waitlist.domain.model import Entry, EntryView, FreeSeat, LatestOffer, Wish
from waitlist.domain.offers import Candidate, EarlyOutcome, Offer, OfferMove
from waitlist.domain.seats import Release, Seat, SeatMove, SlotContext
from waitlist.domain.states import LIVE_ENTRY, LIVE_OFFER, OPEN_SEAT, EntryState, OfferState, SeatState, check_entry
from waitlist.service_layer import offering, sweeper
from waitlist.service_layer.dispatch import Offerer
from waitlist.service_layer.policy import Policy
from waitlist.service_layer.unit_of_work import Dispatch, UnitOfWork
from waitlist.settings import WaitlistSettings

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PENDING = OfferState.PENDING
TABLES = ("entries", "offers", "seats", "early", "context")
HELD_BY_CLIENTS = frozenset({OfferState.REQUESTING, OfferState.PENDING, OfferState.ACCEPTED, OfferState.EXPIRED})


@dataclass
class StoredEntry:
    entry: Entry
    client_email: str | None = None
    client_name: str | None = None
    updated_at: datetime = START


@dataclass
class StoredOffer:
    offer: Offer
    lease_until: datetime | None = None
    recheck_at: datetime | None = None


@dataclass
class StoredSeat:
    seat: Seat
    lease_until: datetime | None = None
    created_at: datetime = START


@dataclass
class Store:
    """Every table of the waitlist's schema, and the database clock."""

    now: datetime = START
    entries: dict[uuid.UUID, StoredEntry] = field(default_factory=dict)
    offers: dict[uuid.UUID, StoredOffer] = field(default_factory=dict)
    seats: dict[uuid.UUID, StoredSeat] = field(default_factory=dict)
    early: dict[uuid.UUID, EarlyOutcome] = field(default_factory=dict)
    context: dict[uuid.UUID, SlotContext] = field(default_factory=dict)
    outbox: list[Event] = field(default_factory=list)
    busy_slots: set[uuid.UUID] = field(default_factory=set)  # slot locks another process holds
    commits: int = 0

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def add_entry(self, wish: Wish, priority: int = 0, client_id: uuid.UUID | None = None,
                  email: str | None = None) -> Entry:
        """A waiting entry that joined now (the clock moves on a microsecond, so join order is insertion order)."""
        entry = Entry(uuid.uuid4(), client_id or uuid.uuid4(), wish, priority, self.now)
        self.entries[entry.id] = StoredEntry(entry, email, "Client", self.now)
        self.tick(1e-6)
        return entry

    def entry(self, entry_id: uuid.UUID) -> Entry:
        return self.entries[entry_id].entry

    def offer(self, offer_id: uuid.UUID) -> Offer:
        return self.offers[offer_id].offer

    def seat(self, seat_id: uuid.UUID) -> Seat:
        return self.seats[seat_id].seat

    def offers_of(self, entry_id: uuid.UUID) -> list[Offer]:
        return [stored.offer for stored in self.offers.values() if stored.offer.entry_id == entry_id]

    def event_types(self) -> list[str]:
        return [event.type for event in self.outbox]


class FakeOfferRepository(OfferRepository):
    def __init__(self, store: Store) -> None:
        self._store = store

    def _all(self) -> list[Offer]:
        return [stored.offer for stored in self._store.offers.values()]

    def _after(self, seconds: float) -> datetime:
        return self._store.now + timedelta(seconds=seconds)

    async def candidate(self, seat: FreeSeat, passed_over: Sequence[uuid.UUID] = ()) -> Candidate | None:
        offers = self._all()
        with_live_offer = {offer.entry_id for offer in offers if offer.state in LIVE_OFFER}
        busy = {offer.client_id for offer in offers if offer.slot_id == seat.slot_id and offer.state in HELD_BY_CLIENTS}
        waiting = [stored.entry for stored in self._store.entries.values() if stored.entry.state is EntryState.WAITING]
        found = next_candidate(waiting, seat, {*passed_over, *with_live_offer}, busy, self._store.now)
        if found is None:
            return None
        stored = self._store.entries[found.id]
        return Candidate(found.id, found.client_id, stored.client_email, stored.client_name)

    async def add_request(self, offer: Offer, lease_seconds: float) -> Offer | None:
        entry = self._store.entries.get(offer.entry_id)
        clashes = [
            other for other in self._all()
            if (other.entry_id == offer.entry_id and other.state in LIVE_OFFER)
            or (other.seat_id == offer.seat_id and other.state is OfferState.REQUESTING)
            or (other.slot_id == offer.slot_id and other.entry_id == offer.entry_id
                and other.state is not OfferState.FAILED)
        ]
        if entry is None or entry.entry.state is not EntryState.WAITING or clashes:
            return None
        entry.updated_at = self._store.now
        self._store.offers[offer.id] = StoredOffer(offer, lease_until=self._after(lease_seconds))
        return offer

    async def live_on_seat(self, seat_id: uuid.UUID) -> list[Offer]:
        return [
            dataclasses.replace(offer, overdue=_overdue(offer, self._store.now))
            for offer in self._all() if offer.seat_id == seat_id and offer.state in LIVE_OFFER
        ]

    async def get(self, offer_id: uuid.UUID) -> Offer | None:
        stored = self._store.offers.get(offer_id)
        return stored.offer if stored is not None else None

    async def by_appointment(self, appointment_id: uuid.UUID) -> Offer | None:
        return next((offer for offer in self._all() if offer.appointment_id == appointment_id), None)

    async def apply(self, move: OfferMove) -> Offer | None:
        stored = self._store.offers.get(move.offer_id)
        if stored is None or stored.offer.state is not move.current:
            return None
        if move.attempt is not None and stored.offer.attempt != move.attempt:
            return None
        offer, now = stored.offer, self._store.now
        stored.offer = dataclasses.replace(
            offer, state=move.target,
            appointment_id=move.appointment_id or offer.appointment_id, deadline=move.deadline or offer.deadline,
            failure=move.failure or offer.failure,
            decided_at=now if move.current is OfferState.PENDING else offer.decided_at,
            offered_at=now if move.target is OfferState.PENDING else offer.offered_at,
        )
        stored.lease_until = None
        pending = [other for other in self._all() if other.seat_id == offer.seat_id and other.state is PENDING]
        assert len(pending) <= 1, "offers_one_pending_per_seat"
        return stored.offer

    async def next_attempt(self, offer: Offer, lease_seconds: float) -> bool:
        stored = self._store.offers.get(offer.id)
        if stored is None or stored.offer.state is not OfferState.REQUESTING or stored.offer.attempt != offer.attempt:
            return False
        stored.offer = dataclasses.replace(stored.offer, attempt=offer.attempt + 1)
        stored.lease_until = self._after(lease_seconds)
        return True

    async def recheck_later(self, offer_id: uuid.UUID, seconds: float) -> None:
        self._store.offers[offer_id].recheck_at = self._after(seconds)

    async def is_past(self, instant: datetime) -> bool:
        return instant <= self._store.now

    async def due(self, limit: int) -> list[Offer]:
        now = self._store.now
        due = [
            stored.offer for stored in self._store.offers.values()
            if _overdue(stored.offer, now) and (stored.recheck_at is None or stored.recheck_at <= now)
        ]
        return sorted(due, key=lambda offer: offer.deadline or now)[:limit]

    async def claim_stale_requests(self, lease_seconds: float, limit: int) -> list[SendHold]:
        stale = [
            stored for stored in self._store.offers.values()
            if stored.offer.state is OfferState.REQUESTING and stored.lease_until is not None
            and stored.lease_until <= self._store.now
        ][:limit]
        for stored in stale:
            stored.lease_until = self._after(lease_seconds)
        return [SendHold(stored.offer.id, stored.offer.slot_id) for stored in stale]

    async def requested(self, offer_id: uuid.UUID) -> Offer | None:
        offer = await self.get(offer_id)
        return offer if offer is not None and offer.state is OfferState.REQUESTING else None

    async def payload(self, offer_id: uuid.UUID) -> WaitlistOfferPayload:
        offer = self._store.offer(offer_id)
        seat = self._store.seat(offer.seat_id)
        context = self._store.context.get(offer.slot_id, SlotContext())
        return WaitlistOfferPayload(
            offer_id=offer.id, entry_id=offer.entry_id, client_id=offer.client_id,
            appointment_id=offer.appointment_id, slot_id=offer.slot_id, service_id=seat.service_id,
            provider_id=seat.provider_id, starts_at=seat.starts_at, offer_expires_at=offer.deadline,
            timezone=context.timezone, service_name=context.service_name, provider_name=context.provider_name,
            clinic_name=context.clinic_name, client_email=offer.client_email, client_name=offer.client_name,
        )

    async def remember_early_outcome(self, appointment_id: uuid.UUID, outcome: EarlyOutcome) -> None:
        self._store.early.setdefault(appointment_id, outcome)

    async def early_outcome(self, appointment_id: uuid.UUID) -> EarlyOutcome | None:
        return self._store.early.get(appointment_id)

    async def last_ended(self, seat_id: uuid.UUID) -> datetime | None:
        ends = [
            min(offer.deadline, offer.decided_at) for offer in self._all()
            if offer.seat_id == seat_id and offer.state is OfferState.EXPIRED
            and offer.deadline is not None and offer.decided_at is not None
        ]
        return max(ends, default=None)

    async def made_for_seat(self, seat_id: uuid.UUID) -> int:
        reached = {OfferState.PENDING, OfferState.ACCEPTED, OfferState.EXPIRED}
        return sum(1 for offer in self._all() if offer.seat_id == seat_id and offer.state in reached)

    async def requesting_on_slot(self, slot_id: uuid.UUID) -> bool:
        return any(offer.slot_id == slot_id and offer.state is OfferState.REQUESTING for offer in self._all())

    async def fill_ratio(self) -> float | None:
        accepted = sum(1 for offer in self._all() if offer.state is OfferState.ACCEPTED)
        decided = sum(1 for offer in self._all() if offer.state in (OfferState.ACCEPTED, OfferState.EXPIRED))
        return accepted / decided if decided else None


def _overdue(offer: Offer, now: datetime) -> bool:
    return offer.state is OfferState.PENDING and offer.deadline is not None and offer.deadline <= now


class FakeSeatRepository(SeatRepository):
    def __init__(self, store: Store) -> None:
        self._store = store

    async def lock_slot(self, slot_id: uuid.UUID) -> None:
        assert slot_id not in self._store.busy_slots, "would wait for another process"

    async def try_lock_slot(self, slot_id: uuid.UUID) -> bool:
        return slot_id not in self._store.busy_slots

    async def remember_context(self, slot_id: uuid.UUID, service_id: uuid.UUID, context: SlotContext) -> None:
        waiting = any(
            stored.entry.wish.service_id == service_id and stored.entry.state is EntryState.WAITING
            for stored in self._store.entries.values()
        )
        if not waiting:
            return
        known = self._store.context.get(slot_id, SlotContext())
        self._store.context[slot_id] = SlotContext(*(
            new if new is not None else old for new, old in zip(
                dataclasses.astuple(context), dataclasses.astuple(known), strict=True)
        ))

    async def add(self, seat: Seat, lease_seconds: float | None = None) -> Seat | None:
        if seat.id in self._store.seats:
            return None
        lease = self._store.now + timedelta(seconds=lease_seconds) if lease_seconds is not None else None
        self._store.seats[seat.id] = StoredSeat(seat, lease, self._store.now)
        return seat

    async def get(self, seat_id: uuid.UUID) -> Seat | None:
        stored = self._store.seats.get(seat_id)
        return stored.seat if stored is not None else None

    async def others_open(self, slot_id: uuid.UUID, seat_id: uuid.UUID) -> bool:
        return any(
            stored.seat.slot_id == slot_id and stored.seat.id != seat_id and stored.seat.state in OPEN_SEAT
            for stored in self._store.seats.values()
        )

    async def apply(self, move: SeatMove, lease_seconds: float | None = None) -> None:
        stored = self._store.seats[move.seat_id]
        assert stored.seat.state is move.current, "the seat's row is locked by whoever moves it"
        stored.seat = dataclasses.replace(stored.seat, state=move.target, outcome=move.outcome or stored.seat.outcome)
        stored.lease_until = self._store.now + timedelta(seconds=lease_seconds) if lease_seconds is not None else None

    async def deferred(self, slot_id: uuid.UUID | None, limit: int) -> list[Seat]:
        requesting = {
            stored.offer.slot_id for stored in self._store.offers.values()
            if stored.offer.state is OfferState.REQUESTING
        }
        found = [
            stored for stored in self._store.seats.values()
            if stored.seat.state is SeatState.DEFERRED and slot_id in (None, stored.seat.slot_id)
            and stored.seat.slot_id not in requesting
        ]
        return [stored.seat for stored in sorted(found, key=lambda stored: stored.created_at)][:limit]

    async def claim_stale_returns(self, lease_seconds: float, limit: int) -> list[ReturnSlot]:
        stale = [
            stored for stored in self._store.seats.values()
            if stored.seat.state is SeatState.RETURNING and stored.lease_until is not None
            and stored.lease_until <= self._store.now
        ][:limit]
        for stored in stale:
            stored.lease_until = self._store.now + timedelta(seconds=lease_seconds)
        return [ReturnSlot(stored.seat.id, stored.seat.slot_id) for stored in stale]

    async def returned(self, seat_id: uuid.UUID) -> None:
        stored = self._store.seats[seat_id]
        if stored.seat.state is SeatState.RETURNING:
            stored.seat = dataclasses.replace(stored.seat, state=SeatState.DONE)
            stored.lease_until = None


class FakeEntryRepository(EntryRepository):
    def __init__(self, store: Store) -> None:
        self._store = store

    def _live(self, client_id: uuid.UUID) -> list[Entry]:
        return [
            stored.entry for stored in self._store.entries.values()
            if stored.entry.client_id == client_id and stored.entry.state in LIVE_ENTRY
        ]

    async def lock_client(self, client_id: uuid.UUID) -> None:
        return None

    async def count_live(self, client_id: uuid.UUID) -> int:
        return len(self._live(client_id))

    async def live_duplicate(self, client_id: uuid.UUID, wish: Wish) -> uuid.UUID | None:
        return next((entry.id for entry in self._live(client_id) if entry.wish == wish), None)

    async def add(self, client_id: uuid.UUID, wish: Wish, email: str | None, name: str | None) -> uuid.UUID:
        if await self.live_duplicate(client_id, wish) is not None:
            raise DuplicateEntry(None)
        entry = Entry(uuid.uuid4(), client_id, wish, 0, self._store.now)
        self._store.entries[entry.id] = StoredEntry(entry, email, name, self._store.now)
        self._store.tick(1e-6)  # clock_timestamp() moves on: join order is insertion order
        return entry.id

    async def lock(self, entry_id: uuid.UUID) -> Entry | None:
        stored = self._store.entries.get(entry_id)
        return stored.entry if stored is not None else None

    async def view(self, entry_id: uuid.UUID) -> EntryView | None:
        stored = self._store.entries.get(entry_id)
        if stored is None:
            return None
        entry = stored.entry
        waiting = [other.entry for other in self._store.entries.values() if other.entry.state is EntryState.WAITING]
        rank = position(entry, waiting) if entry.state is EntryState.WAITING else None
        reached = [
            offer for offer in self._store.offers_of(entry_id)
            if offer.state in (OfferState.PENDING, OfferState.ACCEPTED, OfferState.EXPIRED)
        ]
        latest = max(reached, key=lambda offer: offer.offered_at or START, default=None)
        shown = None
        if latest is not None and latest.appointment_id is not None and latest.deadline is not None:
            shown = LatestOffer(latest.id, latest.state, latest.slot_id, latest.appointment_id, latest.deadline)
        return EntryView(entry, rank, stored.updated_at, shown, stored.client_email, stored.client_name)

    async def page(
        self, client_id: uuid.UUID | None, state: EntryState | None, after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[EntryView]:
        entries = sorted(
            (stored.entry for stored in self._store.entries.values()
             if client_id in (None, stored.entry.client_id) and state in (None, stored.entry.state)
             and (after is None or (stored.entry.created_at, stored.entry.id) > after)),
            key=lambda entry: (entry.created_at, entry.id),
        )[:limit]
        return [view for entry in entries if (view := await self.view(entry.id)) is not None]

    async def move(self, entry_id: uuid.UUID, sources: tuple[EntryState, ...], target: EntryState) -> bool:
        check_entry(sources, target)
        stored = self._store.entries.get(entry_id)
        if stored is None or stored.entry.state not in sources:
            return False
        stored.entry = dataclasses.replace(stored.entry, state=target)
        stored.updated_at = self._store.now
        return True

    async def has_live_offer(self, entry_id: uuid.UUID) -> bool:
        return any(offer.state in LIVE_OFFER for offer in self._store.offers_of(entry_id))

    async def expire_past_windows(self) -> int:
        ended = [
            stored.entry for stored in self._store.entries.values()
            if stored.entry.state is EntryState.WAITING and stored.entry.wish.window_to is not None
            and stored.entry.wish.window_to <= self._store.now and not await self.has_live_offer(stored.entry.id)
        ]
        for entry in ended:
            await self.move(entry.id, (EntryState.WAITING,), EntryState.EXPIRED)
        return len(ended)


class FakeUnitOfWork(UnitOfWork):
    """The unit of work on a `Store`: a rollback restores the store as it was when the transaction began."""

    def __init__(self, store: Store, dispatch: Dispatch | None = None, attempts: int = 4) -> None:
        super().__init__(dispatch, attempts)
        self.store = store
        self.offers = FakeOfferRepository(store)
        self.seats = FakeSeatRepository(store)
        self.entries = FakeEntryRepository(store)
        self._snapshot: dict[str, object] = {}

    async def now(self) -> datetime:
        return self.store.now

    async def _begin(self, transaction: bool) -> None:
        self._snapshot = {name: copy.deepcopy(getattr(self.store, name)) for name in TABLES}

    async def _commit(self, events: Sequence[Event]) -> None:
        self.store.outbox.extend(events)
        self.store.commits += 1

    async def _rollback(self) -> None:
        for name, table in self._snapshot.items():
            setattr(self.store, name, table)

    async def _committed(self, actions: Sequence[AfterCommit]) -> None:
        for action in actions:
            await run_after_commit(action)


@dataclass
class FakeBooking(BookingPort):
    """Booking's internal endpoints: holds answered from `answers` (default: held for the offer's TTL from the
    store's clock), hand-backs recorded."""

    store: Store
    answers: list[HoldAnswer] = field(default_factory=list)
    holds: list[tuple[HoldRequest, str]] = field(default_factory=list)
    returned: list[uuid.UUID] = field(default_factory=list)
    return_answer: bool | None = True

    async def hold(self, request: HoldRequest, key: str) -> HoldAnswer:
        self.holds.append((request, key))
        if self.answers:
            return self.answers.pop(0)
        return HoldAnswer(Verdict.HELD, None, uuid.uuid4(), self.store.now + timedelta(seconds=request.ttl_seconds))

    async def release_reservation(self, slot_id: uuid.UUID) -> bool | None:
        self.returned.append(slot_id)
        return self.return_answer


def settings(**overrides: object) -> WaitlistSettings:
    """The waitlist's settings for unit tests: 5-minute offers, no back-off sleeps."""
    values: dict[str, object] = {"internal_identity_key": "k" * 32, "busy_retry_delay_seconds": 0.0}
    return WaitlistSettings(**(values | overrides))  # type: ignore[arg-type]


@dataclass
class World:
    """A store, booking and an offerer whose units of work are fakes on that store."""

    store: Store = field(default_factory=Store)
    booking: FakeBooking = field(init=False)
    offerer: Offerer = field(init=False)
    service_id: uuid.UUID = field(default_factory=uuid.uuid4)
    provider_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def __post_init__(self) -> None:
        self.booking = FakeBooking(self.store)
        self.offerer = Offerer(lambda dispatch: FakeUnitOfWork(self.store, dispatch), self.booking, settings())

    @property
    def policy(self) -> Policy:
        return self.offerer.policy

    def uow(self, dispatch: Dispatch | None = None) -> FakeUnitOfWork:
        """A unit of work whose follow-ups the offerer runs (or `dispatch`)."""
        return FakeUnitOfWork(self.store, dispatch or self.offerer.run)

    def wish(self, **fields: object) -> Wish:
        return Wish(self.service_id, **fields)  # type: ignore[arg-type]

    def release(self, slot_id: uuid.UUID | None = None, released_by: str = "client",
                appointment_id: uuid.UUID | None = None, starts_in: timedelta = timedelta(days=1)) -> Release:
        """`slot.released` of one seat of a slot of this world's provider, now."""
        starts_at = self.store.now + starts_in
        return Release(uuid.uuid4(), self.store.now, slot_id or uuid.uuid4(), self.service_id, self.provider_id,
                       starts_at, starts_at + timedelta(hours=1), released_by, appointment_id)

    async def released(self, release: Release) -> None:
        """Booking's `slot.released`, applied in its consumer's unit of work (its follow-ups run after it)."""
        await self.uow().run(lambda uow: offering.seat_released(uow, self.policy, release))

    async def confirmed(self, appointment_id: uuid.UUID | None, slot_id: uuid.UUID) -> None:
        """Booking's `appointment.confirmed` of a waitlist hold."""
        assert appointment_id is not None
        await self.uow().run(lambda uow: offering.appointment_confirmed(uow, self.policy, appointment_id, slot_id))

    async def ended(self, appointment_id: uuid.UUID | None, slot_id: uuid.UUID,
                    why: str = "appointment.expired") -> None:
        """Booking's `appointment.expired` (or `.cancelled`) of a waitlist hold."""
        assert appointment_id is not None
        await self.uow().run(
            lambda uow: offering.appointment_ended(uow, self.policy, appointment_id, slot_id, why)
        )

    async def offer_confirmed(self, offer: Offer) -> None:
        """Booking's confirmation of the offer's hold."""
        await self.confirmed(offer.appointment_id, offer.slot_id)

    async def offer_ended(self, offer: Offer, why: str = "appointment.expired") -> None:
        """Booking's word that the offer's hold ended."""
        await self.ended(offer.appointment_id, offer.slot_id, why)

    async def sweep(self) -> sweeper.SweepRun:
        """One pass of the sweeper."""
        return await sweeper.sweep(self.offerer, 100)

    def only_offer(self, entry_id: uuid.UUID) -> Offer:
        """The entry's one offer."""
        (offer,) = self.store.offers_of(entry_id)
        return offer
