"""A search's answer from cached day pages: entries as stored, and the selection a query makes from them.

A page holds a (service, provider-or-every-provider, UTC day)'s slots with a free seat, including those the
waitlist has first call on (with the instant that ends), so the answer can be computed at read time: what started
since the page was filled, or is still reserved, is left out without another query. Each slot's public answer is
kept as JSON text, so a cache hit copies it into the response instead of decoding and encoding it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import TypedDict

import orjson

from availability.domain.days import utc_day_of
from smartslot_common.rows import Row

PUBLIC_FIELDS = ("slot_id", "provider_id", "service_id", "starts_at", "ends_at", "capacity", "remaining")
MAX_OWN_SLOTS = 16  # the gateway sends a caller's few most recent ones


class Entry(TypedDict):
    """One slot in a cached page (short keys: pages are stored as JSON)."""

    a: str  # the public answer, as JSON text
    t: float  # start, epoch seconds
    r: float | None  # end of the waitlist's reservation, epoch seconds
    c: str  # clinic id


def entry(row: Row) -> Entry:
    """A slot row as a page stores it: the public answer `a` as JSON text, and what selection needs: start `t`,
    reservation end `r` (epoch seconds) and clinic `c`."""
    reserved_until: datetime | None = row["reserved_until"]
    answer = {
        "slot_id": str(row["slot_id"]), "provider_id": str(row["provider_id"]), "service_id": str(row["service_id"]),
        "starts_at": row["starts_at"].isoformat(), "ends_at": row["ends_at"].isoformat(),
        "capacity": row["capacity"], "remaining": row["remaining"],
    }
    return {"a": orjson.dumps(answer).decode(), "t": row["starts_at"].timestamp(),
            "r": reserved_until.timestamp() if reserved_until else None, "c": str(row["clinic_id"])}


class Entries:
    """Entries already made, by the row each was made from (every column of it, so a slot whose state changed is a
    new row): a day page filled again after an invalidation makes only the entries of the slots that changed. Bounded:
    emptied when full (what it held is made again on demand). Entries are shared, never changed."""

    def __init__(self, size: int = 20_000) -> None:
        self._made: dict[tuple[object, ...], Entry] = {}
        self._size = size

    def of(self, row: Row) -> Entry:
        key = tuple(row.values())
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= self._size:
                self._made.clear()
            made = self._made[key] = entry(row)
        return made


def pages_by_day(rows: Iterable[Row], days: Iterable[date], entries: Entries | None = None) -> dict[date, list[Entry]]:
    """Rows (ordered by start) split into one page per day of `days`; a day without rows gets an empty page."""
    make = entry if entries is None else entries.of
    pages: dict[date, list[Entry]] = {day: [] for day in days}
    for row in rows:
        page = pages.get(utc_day_of(row["starts_at"]))
        if page is not None:
            page.append(make(row))
    return pages


def select(
    pages: Iterable[list[Entry]], start: float, end: float, now: float, clinic_id: str | None = None
) -> list[str]:
    """The public answers (JSON texts) of the entries that start in [start, end) after `now`, are not reserved at
    `now`, and belong to the clinic if one is named; pages must come in day order (each is ordered by start)."""
    return selection(pages, start, end, now, clinic_id)[0]


def next_change(
    pages: Iterable[list[Entry]], start: float, end: float, now: float, clinic_id: str | None = None
) -> float:
    """The first instant after `now` at which `select` over the same pages answers differently by itself: a listed
    slot starts (and leaves the answer), or a reservation ends on a slot not yet started (which joins it); infinity
    when nothing in the range will change."""
    return selection(pages, start, end, now, clinic_id)[1]


def selection(
    pages: Iterable[list[Entry]], start: float, end: float, now: float, clinic_id: str | None = None
) -> tuple[list[str], float]:
    """`select` and `next_change` in one pass over the entries (a week of every provider is a thousand of them)."""
    listed: list[str] = []
    changes_at = float("inf")
    for page in pages:
        for item in page:
            starts = item["t"]
            if not start <= starts < end or starts <= now or (clinic_id is not None and item["c"] != clinic_id):
                continue
            reserved = item["r"]
            if reserved is None or reserved <= now:
                listed.append(item["a"])
                moment = starts
            else:
                moment = min(starts, reserved)
            if moment < changes_at:
                changes_at = moment
    return listed, changes_at


# --- read-your-writes -------------------------------------------------------------------------------------------


def own_slots(header: str) -> tuple[bytes, ...]:
    """The slots an own-slots header names (the caller held or booked them moments ago), as their ids are written in
    an answer; what is not a slot id is left out."""
    named = []
    for text in header.split(",")[:MAX_OWN_SLOTS]:
        try:
            named.append(str(uuid.UUID(text.strip())).encode())
        except ValueError:
            continue
    return tuple(named)


def lists_own_slot(body: bytes, own: Iterable[bytes]) -> bool:
    """Whether an answer lists any of the caller's own slots: then its event may not have reached the cache the
    answer came from, and the search is answered again from the primary. A bytes search (slot ids are UUIDs, which
    nothing else in an answer can contain by chance)."""
    return any(slot in body for slot in own)


def with_own_slots(body: bytes, own: dict[str, Entry | None], now: float) -> bytes:
    """An answer with the caller's own slots as they are now (`own`: each slot id it names, with its entry read
    from the primary, or None when it is no longer open): each one the answer lists replaced by its entry, with the
    seats it has left, or left out when it is taken, reserved or started; every other slot as the answer had it."""
    slots: list[object] = []
    for item in orjson.loads(body)["slots"]:
        slot_id = item["slot_id"]
        if slot_id not in own:
            slots.append(item)
            continue
        now_entry = own[slot_id]
        if now_entry is not None and now_entry["t"] > now and (now_entry["r"] is None or now_entry["r"] <= now):
            slots.append(orjson.Fragment(now_entry["a"]))
    return orjson.dumps({"slots": slots})
