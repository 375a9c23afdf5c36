"""Query parameters shared by the routes: instants and days within the calendar the service computes with."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

# Far enough for any booking, near enough that a day or an offset more never leaves Python's calendar.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _within_calendar(value: datetime) -> datetime:
    try:
        inside = EARLIEST <= value.astimezone(UTC) < LATEST
    except OverflowError:
        inside = False
    if not inside:
        raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year}")
    return value


def _iso_date(value: object) -> object:
    if not (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


def _day_within_calendar(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_within_calendar)]
Day = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_day_within_calendar)]
