"""Search open slots: cached day pages where valid, one replica query per burst for the rest.

A fill reads the replica's replay position first, then the data. If the replica has not replayed up to the fence
of a day it fills (an invalidation it has not caught up with), the answer comes from the primary instead and
nothing is cached, so replica lag can never put a page back that an event has just made stale. A replica that cannot
be reached (stopped, restarting, failed over) is treated the same way: the primary answers, uncached.

Read-your-writes: a search whose answer lists a slot its caller held or booked moments ago (the gateway says which)
has those slots read again from the primary, neither cached nor kept (`reread`), since the booking's event may not
have reached the cache yet.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

import asyncpg
import orjson

from availability import metrics
from availability.adapters import slots
from availability.adapters.cache import Lookup, PageCache
from availability.domain.days import ONE_DAY, utc_days, utc_midnight
from availability.domain.errors import ServiceNotFound
from availability.domain.invalidation import EVERY_PROVIDER
from availability.domain.search import Entries, Entry, entry, pages_by_day, selection, with_own_slots
from availability.service_layer.answers import Answers, keep_answer
from availability.service_layer.single_flight import SingleFlight
from smartslot_common.errors import dependency_unreachable
from smartslot_common.logging import get_logger
from smartslot_common.redis import REDIS_UNAVAILABLE

log = get_logger(__name__)


@dataclass(frozen=True)
class Search:
    """One availability question."""

    service_id: uuid.UUID
    start: datetime
    end: datetime
    provider_id: uuid.UUID | None = None
    clinic_id: uuid.UUID | None = None

    @property
    def scope(self) -> str:
        return str(self.provider_id) if self.provider_id else EVERY_PROVIDER


@dataclass(frozen=True)
class PageFlight:
    """A day page to fill, with the fence it must reach (a later invalidation makes it another flight)."""

    service_id: uuid.UUID
    scope: str
    day: date
    fence: int


# A filled day page, and the WAL position it was read at (None: read from the primary, behind no fence's check).
Filled = tuple[list[Entry], int | None]


@dataclass
class SearchDeps:
    """What a search uses: the cache, both pools, the single flights and the service-existence TTLs."""

    cache: PageCache
    read_pool: asyncpg.Pool
    primary_pool: asyncpg.Pool
    service_ttl_seconds: int
    unknown_service_ttl_seconds: int
    page_flights: SingleFlight[PageFlight, Filled]
    service_flights: SingleFlight[uuid.UUID, bool]
    answers: Answers = field(default_factory=lambda: Answers(0))
    answer_lifetime_seconds: float = 0.0
    # Identical searches arriving while one is being answered share its answer (a week of every provider is
    # thousands of entries to select and encode).
    answer_flights: SingleFlight[str, bytes] = field(
        default_factory=lambda: SingleFlight(lambda n: metrics.SINGLE_FLIGHT_JOINS.labels(kind="answer").inc(n)))
    # A page filled again after a booking differs from the last fill by a slot or two: their entries are made anew.
    entries: Entries = field(default_factory=Entries)


@dataclass(frozen=True)
class Found:
    """A search's open slots (public JSON texts, by start), the days it read, the WAL position each day's page was
    read at (None: some came from the primary or without the cache, so it must not be kept), and the first instant
    its selection changes by itself."""

    slots: list[str]
    days: list[date]
    positions: list[int] | None
    changes_at: float
    generation: int = 0  # the cache's generation before the pages were looked up


def new_flights() -> tuple[SingleFlight[PageFlight, Filled], SingleFlight[uuid.UUID, bool]]:
    """The single flights of one process: day pages, and service existence."""
    return (SingleFlight(lambda n: metrics.SINGLE_FLIGHT_JOINS.labels(kind="page").inc(n)),
            SingleFlight(lambda n: metrics.SINGLE_FLIGHT_JOINS.labels(kind="service").inc(n)))


async def answer(deps: SearchDeps, query_string: str, search: Search, now: float) -> bytes:
    """The response body of a search (`{"slots": [...]}`), kept for its query string while it holds; one search runs
    for identical query strings that arrive together. `ServiceNotFound` for an unknown service."""

    async def answered(_: list[str]) -> dict[str, bytes]:
        found = await find(deps, search, now)
        body = _body(found.slots)
        keep_answer(deps.answers, query_string, body, search, found, deps.answer_lifetime_seconds, now)
        return {query_string: body}

    return (await deps.answer_flights.get([query_string], answered))[query_string]


async def reread(deps: SearchDeps, body: bytes, own: tuple[bytes, ...], now: float) -> bytes:
    """An answer (`body`) with the caller's own slots it lists read again from the primary, neither cached nor kept:
    each one still open is listed with the primary's `remaining`, the others are left out; the rest of the answer is
    as it was (the caller's own writes are what it must see at once; everyone's reach the cache by their events)."""
    named = [uuid.UUID(slot.decode()) for slot in own if slot in body]
    rows = await slots.open_slots_named(deps.primary_pool, named)
    now_open = {str(row["slot_id"]): entry(row) for row in rows}
    metrics.OWN_WRITE_REREADS.inc()
    return with_own_slots(body, {str(slot_id): now_open.get(str(slot_id)) for slot_id in named}, now)


def _body(listed: list[str]) -> bytes:
    return orjson.dumps({"slots": [orjson.Fragment(text) for text in listed]})


def _days(search: Search, now: float) -> list[date]:
    """The UTC days a search reads: from its start, or now if later, to its end."""
    return utc_days(max(search.start, datetime.fromtimestamp(now, search.start.tzinfo)), search.end)


async def open_slots(deps: SearchDeps, search: Search, now: float | None = None) -> list[str]:
    """The open slots of a search as JSON texts, ordered by start; `ServiceNotFound` for an unknown service."""
    return (await find(deps, search, now)).slots


async def find(deps: SearchDeps, search: Search, now: float | None = None) -> Found:
    """The open slots of a search, with what decides how long they stay the answer; `ServiceNotFound` for an unknown
    service."""
    now = time.time() if now is None else now
    days = _days(search, now)
    generation = deps.cache.generation
    lookup, cached = await _look_up(deps.cache, search, days)
    await _require_service(deps, search.service_id, lookup.service_known, cached)
    filled = await _fill(deps, search, lookup.required, cached) if lookup.required else {}
    _count(lookup, cached)
    pages = lookup.pages | {day: entries for day, (entries, _) in filled.items()}
    read_at: dict[date, int | None] = {**lookup.positions, **{day: lsn for day, (_, lsn) in filled.items()}}
    positions = [read_at.get(day) for day in days]
    keepable = cached and bool(days) and None not in positions
    in_order = [pages[day] for day in days]
    clinic = str(search.clinic_id) if search.clinic_id else None
    start, end = search.start.timestamp(), search.end.timestamp()
    listed, changes_at = selection(in_order, start, end, now, clinic)
    return Found(listed, days, [p for p in positions if p is not None] if keepable else None, changes_at, generation)


async def _look_up(cache: PageCache, search: Search, days: list[date]) -> tuple[Lookup, bool]:
    """The cache's answer, and whether the cache can be used; with Redis unreachable every day must be read."""
    try:
        return await cache.look_up(str(search.service_id), search.scope, days), True
    except REDIS_UNAVAILABLE as error:
        log.warning("cache_unavailable_reading_database", error=str(error))
        return Lookup(required=dict.fromkeys(days, 0)), False


def _count(lookup: Lookup, cached: bool) -> None:
    outcome = "error" if not cached else "miss" if lookup.required else "hit"
    metrics.CACHE_REQUESTS.labels(outcome=outcome).inc()
    if cached:
        metrics.CACHE_PAGES.labels(outcome="hit").inc(len(lookup.pages))
        metrics.CACHE_PAGES.labels(outcome="stale").inc(lookup.stale)
        metrics.CACHE_PAGES.labels(outcome="miss").inc(len(lookup.required) - lookup.stale)


# --- service existence ------------------------------------------------------------------------------------------


async def _require_service(deps: SearchDeps, service_id: uuid.UUID, known: bool | None, cached: bool) -> None:
    if known is None:
        answers = await deps.service_flights.get([service_id], lambda ids: _check_services(deps, ids, cached))
        known = answers[service_id]
    if not known:
        raise ServiceNotFound(f"No service {service_id}.")


async def _check_services(deps: SearchDeps, service_ids: list[uuid.UUID], cached: bool) -> dict[uuid.UUID, bool]:
    return {service_id: await _check_service(deps, service_id, cached) for service_id in service_ids}


async def _check_service(deps: SearchDeps, service_id: uuid.UUID, cached: bool) -> bool:
    """Ask the replica, and the primary before saying no (a service created a moment ago may not be replayed yet) or
    when the replica cannot be reached."""
    try:
        exists = await slots.service_exists(deps.read_pool, service_id)
    except Exception as error:
        if deps.read_pool is deps.primary_pool or dependency_unreachable(error) is None:
            raise
        log.warning("replica_unreachable_reading_primary", error=type(error).__name__)
        exists = False
    if not exists and deps.read_pool is not deps.primary_pool:
        exists = await slots.service_exists(deps.primary_pool, service_id)
    if cached:
        ttl = deps.service_ttl_seconds if exists else deps.unknown_service_ttl_seconds
        try:
            await deps.cache.remember_service(str(service_id), exists, ttl)
        except REDIS_UNAVAILABLE as error:
            log.warning("cache_write_failed", error=str(error))
    return exists


# --- filling day pages ------------------------------------------------------------------------------------------


async def _fill(deps: SearchDeps, search: Search, required: dict[date, int], cached: bool) -> dict[date, Filled]:
    flights = [PageFlight(search.service_id, search.scope, day, fence) for day, fence in required.items()]
    pages = await deps.page_flights.get(flights, lambda claimed: _fill_flights(deps, search, claimed, cached))
    return {flight.day: page for flight, page in pages.items()}


async def _fill_flights(
    deps: SearchDeps, search: Search, flights: list[PageFlight], cached: bool
) -> dict[PageFlight, Filled]:
    """One query for the days of `flights`: cached when the replica is at or past their fences, else (the replica
    behind, or unreachable) the primary's answer, uncached."""
    days = sorted(flight.day for flight in flights)
    fence = max(flight.fence for flight in flights)
    replica = await _from_replica(deps, search, utc_midnight(days[0]), utc_midnight(days[-1] + ONE_DAY))
    if replica is not None and replica[0] >= fence:
        lsn, rows = replica
        pages = pages_by_day(rows, days, deps.entries)
        if cached:
            await _store(deps.cache, search, pages, lsn)
        return {flight: (pages[flight.day], lsn) for flight in flights}
    if replica is not None:
        metrics.FILL_REFUSALS.inc()
        log.debug("replica_behind_fence_reading_primary", replica_lsn=replica[0], fence=fence)
    pages = await _primary_pages(deps, search, days)
    return {flight: (pages[flight.day], None) for flight in flights}


async def _primary_pages(deps: SearchDeps, search: Search, days: list[date]) -> dict[date, list[Entry]]:
    """The day pages of `days` (in order) read from the primary: one query, nothing cached."""
    start, end = utc_midnight(days[0]), utc_midnight(days[-1] + ONE_DAY)
    _, rows = await slots.open_slots(deps.primary_pool, search.service_id, start, end, search.provider_id)
    metrics.FILL_QUERIES.labels(pool="primary").inc()
    return pages_by_day(rows, days, deps.entries)


async def _from_replica(
    deps: SearchDeps, search: Search, start: datetime, end: datetime
) -> tuple[int, list[asyncpg.Record]] | None:
    """The read pool's position and open slots, or None when it is a replica that cannot be reached."""
    try:
        answer = await slots.open_slots(deps.read_pool, search.service_id, start, end, search.provider_id)
    except Exception as error:
        if deps.read_pool is deps.primary_pool or dependency_unreachable(error) is None:
            raise
        log.warning("replica_unreachable_reading_primary", error=type(error).__name__)
        return None
    metrics.FILL_QUERIES.labels(pool="replica").inc()
    return answer


async def _store(cache: PageCache, search: Search, pages: dict[date, list[Entry]], lsn: int) -> None:
    try:
        stored = await cache.store(str(search.service_id), search.scope, pages, lsn)
    except REDIS_UNAVAILABLE as error:
        log.warning("cache_write_failed", error=str(error))
        return
    metrics.PAGES_STORED.inc(stored)
