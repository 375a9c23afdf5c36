"""Booking analytics: raw tallies per provider, added up per clinic and overall, and the ratios made from them.

The period is the appointments and slots that START in [from, to). Definitions (each ratio is 0.0 when its
denominator is 0):

- `bookings`: appointments of the period by their current status (holds still `locked` are not listed).
- `utilization`: booked seat-minutes / offered seat-minutes, where offered = capacity x duration of the open slots
  and booked = duration of the confirmed, completed and no-show appointments on them.
- `cancellation_rate`: of the appointments that were ever confirmed (bookings), the share now cancelled.
- `fees_cents`: the cancellation fees charged, summed over the cancelled appointments (in the services' currency).
- `hold_conversion`: of the holds placed (every appointment except instant bookings), the share ever confirmed.
- `waitlist.offers`: appointments created for a waitlist offer (`origin = 'waitlist'`); `accepted`: those ever
  confirmed; `fill_rate`: accepted / offers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from smartslot_common.rows import Row

STATUSES = ("confirmed", "cancelled", "completed", "expired", "no_show")


@dataclass(frozen=True)
class Tally:
    """The raw counts the figures are made from; tallies add up."""

    confirmed: int = 0
    cancelled: int = 0
    completed: int = 0
    expired: int = 0
    no_show: int = 0
    fees_cents: int = 0
    offered_minutes: float = 0.0
    booked_minutes: float = 0.0
    bookings: int = 0
    bookings_cancelled: int = 0
    holds: int = 0
    holds_converted: int = 0
    waitlist_offers: int = 0
    waitlist_accepted: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @classmethod
    def from_row(cls, row: Row) -> Tally:
        """A tally from a row holding (at least) every field, each converted to its zero's type (sums of integer
        columns arrive as Decimal)."""
        zero = cls()
        return cls(**{f.name: type(getattr(zero, f.name))(row[f.name]) for f in fields(cls)})


def ratio(part: float, whole: float) -> float:
    """part / whole rounded to four places; 0.0 when there is no whole."""
    return round(part / whole, 4) if whole else 0.0


def figures(tally: Tally) -> dict[str, Any]:
    """The published figures of one tally (the API's analytics shape, without the breakdowns)."""
    return {
        "bookings": {status: getattr(tally, status) for status in STATUSES},
        "utilization": ratio(tally.booked_minutes, tally.offered_minutes),
        "cancellation_rate": ratio(tally.bookings_cancelled, tally.bookings),
        "fees_cents": tally.fees_cents,
        "hold_conversion": ratio(tally.holds_converted, tally.holds),
        "waitlist": {
            "offers": tally.waitlist_offers, "accepted": tally.waitlist_accepted,
            "fill_rate": ratio(tally.waitlist_accepted, tally.waitlist_offers),
        },
    }


@dataclass(frozen=True)
class ProviderTally:
    """One provider's tally with who and where it is."""

    provider_id: str
    display_name: str
    clinic_id: str
    clinic_name: str
    tally: Tally


def report(providers: Iterable[ProviderTally]) -> dict[str, Any]:
    """The whole analytics answer: overall figures, then the same per provider and per clinic."""
    providers = list(providers)
    clinics: dict[str, tuple[str, Tally]] = {}
    for item in providers:
        name, tally = clinics.get(item.clinic_id, (item.clinic_name, Tally()))
        clinics[item.clinic_id] = (name, tally + item.tally)
    total = sum((item.tally for item in providers), Tally())
    return figures(total) | {
        "by_provider": [
            {"provider_id": item.provider_id, "display_name": item.display_name, "clinic_id": item.clinic_id}
            | figures(item.tally)
            for item in providers
        ],
        "by_clinic": [
            {"clinic_id": clinic_id, "name": name} | figures(tally)
            for clinic_id, (name, tally) in sorted(clinics.items(), key=lambda pair: (pair[1][0], pair[0]))
        ],
    }
