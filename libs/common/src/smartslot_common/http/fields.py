"""Field types of request bodies and query strings: each accepts what its JSON Schema in the published OpenAPI
document allows, and nothing more.

pydantic's lax mode would take `true` as 1, `0.5` or `"1700000000"` as a timestamp and `"yes"` as True; strict mode
would refuse `5.0`, which JSON Schema counts as an integer, and (outside `model_validate_json`) every timestamp and
UUID sent as a string. These types are strict where JSON is ambiguous and work the same whether a body is validated
from parsed JSON or a query string from text, so every service parses both the way it always has.
"""

from __future__ import annotations

import enum
import importlib.resources
import re
from datetime import date, time
from typing import Annotated, Any

import pycountry
from pydantic import AwareDatetime, BeforeValidator, PlainValidator, StrictBool, WithJsonSchema
from pydantic_core import PydanticCustomError

# Years 1900 to 8999: far beyond any booking, and far enough from Python's calendar (years 1 to 9999) that a day
# or a UTC offset more never leaves it.
_YEAR = r"(19|[2-8][0-9])[0-9]{2}"
_DATE = _YEAR + r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]"
TIMESTAMP_PATTERN = rf"^{_DATE}T{_CLOCK}:[0-5][0-9](\.[0-9]{{1,6}})?(Z|[+-]{_CLOCK})$"
DAY_PATTERN = rf"^{_DATE}$"
LOCAL_TIME_PATTERN = rf"^{_CLOCK}(:[0-5][0-9])?$"


def _json_integer(value: Any) -> Any:
    # JSON has one number type: 5.0 is the integer 5 (as JSON Schema says), `true` and "5" are not integers.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError("int_from_float", "Input should be a valid integer, got a fraction")
        return int(value)
    return value


def _decimal_digits(value: Any) -> Any:
    # A query value is text: an integer is written in decimal digits, nothing else ("5.0", "5_0", " 5" are not).
    if not (isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value)):
        raise PydanticCustomError("int_parsing", "Input should be an integer in decimal digits")
    return int(value)


def _text_matching(pattern: str, what: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if not (isinstance(value, str) and compiled.fullmatch(value)):
            raise PydanticCustomError("format", f"Input should be {what}")
        return value

    return check


Integer = Annotated[int, BeforeValidator(_json_integer)]
"""An integer in a JSON body: never a boolean, a string or a fraction."""

QueryInteger = Annotated[int, BeforeValidator(_decimal_digits)]
"""An integer in a query string, in decimal digits."""

Boolean = StrictBool
"""`true` or `false` in a JSON body: never 1, 0 or "yes"."""

Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_text_matching(
        TIMESTAMP_PATTERN, "an RFC 3339 date-time with an offset in the years 1900 to 8999, "
        "e.g. 2026-05-04T09:00:00+02:00")),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]
"""An instant: an RFC 3339 date-time string with its offset; never a number of seconds."""

Day = Annotated[
    date,
    BeforeValidator(_text_matching(DAY_PATTERN, "a date as YYYY-MM-DD in the years 1900 to 8999")),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
]
"""A calendar day, YYYY-MM-DD."""

LocalTime = Annotated[
    time,
    BeforeValidator(_text_matching(LOCAL_TIME_PATTERN, "a local wall-clock time HH:MM (or HH:MM:SS), no offset")),
    WithJsonSchema({"type": "string", "pattern": LOCAL_TIME_PATTERN}),
]
"""A wall-clock time of day without an offset (working hours are local to the provider's zone)."""


# Metals, bond units, special drawing rights and the testing and "no currency" codes are ISO 4217 codes too, but no
# appointment is priced in them.
_NOT_MONEY = frozenset({"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"})


def _iana_zones() -> list[str]:
    # The tzdata package's own list, so the zones accepted (and published) are the same on every machine, whatever
    # the system's zoneinfo holds; zoneinfo falls back to that package for a zone the system lacks.
    return sorted(importlib.resources.files("tzdata").joinpath("zones").read_text().split())


def _one_of(name: str, doc: str, values: list[str], what: str) -> Any:
    """A string from a fixed list, published once as the enum `name` (its members are the list)."""
    members = frozenset(values)
    listed = enum.StrEnum(name, [(value, value) for value in values])  # type: ignore[misc]
    listed.__doc__ = doc

    def check(value: Any) -> str:
        if not (isinstance(value, str) and value in members):
            raise PydanticCustomError("enum", f"Input should be {what}")
        return value

    return Annotated[str, PlainValidator(check, json_schema_input_type=listed)]


CurrencyCode = _one_of(
    "Currency", "An ISO 4217 currency code (the current list, from pycountry).",
    sorted({currency.alpha_3 for currency in pycountry.currencies} - _NOT_MONEY), "an ISO 4217 currency code, e.g. EUR",
)
"""A currency a price may be in: an ISO 4217 code."""

TimeZoneName = _one_of(
    "TimeZone", "An IANA time zone name (the tzdata package's list).", _iana_zones(),
    "an IANA time zone name, e.g. Europe/Berlin",
)
"""An IANA time zone name."""

