"""Reading the console's forms: each field's value, or the message the page shows beside it.

Pure: the checks a page makes before it calls the API (the API checks again and its problems are shown the same
way), so a person sees "at most 31 days" next to the field instead of a round trip's worth of waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_SEARCH_DAYS = 31
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class FormErrors(Exception):
    """Messages by field name; raised when a form cannot be used as sent."""

    def __init__(self, messages: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in messages.items()))
        self.messages = dict(messages)


@dataclass
class Reader:
    """Reads fields of one form, collecting a message per bad field."""

    form: Mapping[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, required: bool = True, label: str = "This field", max_length: int = 500) -> str:
        value = self.form.get(name)
        value = value.strip() if isinstance(value, str) else ""
        if required and not value:
            self.errors[name] = f"{label} is required."
        elif len(value) > max_length:
            self.errors[name] = f"{label} is at most {max_length} characters."
        return value

    def day(self, name: str, required: bool = True, label: str = "The date") -> date | None:
        raw = self.text(name, required, label)
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.errors[name] = f"{label} must be a date (YYYY-MM-DD)."
            return None

    def clock(self, name: str, required: bool = True, label: str = "The time") -> time | None:
        raw = self.text(name, required, label)
        if not raw:
            return None
        try:
            return time.fromisoformat(raw)
        except ValueError:
            self.errors[name] = f"{label} must be a time (HH:MM)."
            return None

    def moment(self, name: str, zone: ZoneInfo, required: bool = True, label: str = "The time") -> datetime | None:
        """A `datetime-local` field read in `zone`."""
        raw = self.text(name, required, label)
        if not raw:
            return None
        try:
            local = datetime.fromisoformat(raw)
        except ValueError:
            self.errors[name] = f"{label} must be a date and time."
            return None
        return local.replace(tzinfo=zone) if local.tzinfo is None else local

    def number(self, name: str, low: int, high: int, required: bool = True, label: str = "The number",
               default: int | None = None) -> int | None:
        raw = self.text(name, required and default is None, label)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.errors[name] = f"{label} must be a whole number."
            return None
        if not low <= value <= high:
            self.errors[name] = f"{label} must be between {low} and {high}."
            return None
        return value

    def done(self) -> None:
        """Raise the collected messages, if any."""
        if self.errors:
            raise FormErrors(self.errors)


def zone_named(name: str | None) -> ZoneInfo:
    """An IANA zone; UTC when the name is missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --- search -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchForm:
    """A slot search: the service, optional clinic and provider, and local days [first, last] in `zone`."""

    service_id: str
    clinic_id: str | None
    provider_id: str | None
    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), self.zone)

    def query(self) -> dict[str, str]:
        """The form's fields as the page's query string."""
        fields = {"service_id": self.service_id, "from": self.first.isoformat(), "to": self.last.isoformat()}
        if self.clinic_id:
            fields["clinic_id"] = self.clinic_id
        if self.provider_id:
            fields["provider_id"] = self.provider_id
        return fields


def read_search(form: Mapping[str, Any], zone: ZoneInfo, today: date) -> SearchForm:
    """A search from its fields; `FormErrors` for a missing service, bad dates, a past start or more than 31 days."""
    reader = Reader(form)
    service_id = reader.text("service_id", label="The service")
    first = reader.day("from", label="From")
    last = reader.day("to", label="To")
    if first is not None and first < today:
        reader.errors["from"] = "From cannot be in the past."
    if first is not None and last is not None:
        if last < first:
            reader.errors["to"] = "To must not be before From."
        elif (last - first).days + 1 > MAX_SEARCH_DAYS:
            reader.errors["to"] = f"Search at most {MAX_SEARCH_DAYS} days at once."
    reader.done()
    assert first is not None
    assert last is not None
    return SearchForm(service_id, reader.text("clinic_id", required=False) or None,
                      reader.text("provider_id", required=False) or None, first, last, zone)


# --- provider schedules -----------------------------------------------------------------------------------------


def read_time_off(form: Mapping[str, Any], zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime, str]:
    """Time off [starts_at, ends_at) in the provider's zone, with its reason; it must end in the future."""
    reader = Reader(form)
    starts_at = reader.moment("starts_at", zone, label="Start")
    ends_at = reader.moment("ends_at", zone, label="End")
    reason = reader.text("reason", required=False, label="The reason", max_length=200) or "Time off"
    if starts_at is not None and ends_at is not None:
        if ends_at <= starts_at:
            reader.errors["ends_at"] = "End must be after start."
        elif ends_at <= now:
            reader.errors["ends_at"] = "End cannot be in the past."
    reader.done()
    assert starts_at is not None
    assert ends_at is not None
    return starts_at, ends_at, reason


def read_slot(form: Mapping[str, Any], zone: ZoneInfo, now: datetime) -> tuple[str, datetime, int]:
    """An ad-hoc slot: service, local start in the future, capacity."""
    reader = Reader(form)
    service_id = reader.text("service_id", label="The service")
    starts_at = reader.moment("starts_at", zone, label="Start")
    capacity = reader.number("capacity", 1, 100, label="Capacity", default=1)
    if starts_at is not None and starts_at <= now:
        reader.errors["starts_at"] = "Start cannot be in the past."
    reader.done()
    assert starts_at is not None
    assert capacity is not None
    return service_id, starts_at, capacity


# --- admin ------------------------------------------------------------------------------------------------------


def read_policy(form: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
    """A cancellation policy: flexible, strict (window and fee) or tiered ("2:100, 24:50")."""
    kind = reader.text("policy_kind", label="The policy")
    if kind == "flexible":
        return {"kind": "flexible"}
    if kind == "strict":
        window = reader.number("window_hours", 1, 24 * 30, label="The window")
        fee = reader.number("fee_percent", 0, 100, label="The fee")
        return {"kind": "strict", "window_hours": window, "fee_percent": fee}
    if kind == "tiered":
        return {"kind": "tiered", "tiers": _tiers(reader.text("tiers", label="The tiers"), reader)}
    if kind:
        reader.errors["policy_kind"] = "Choose flexible, strict or tiered."
    return {}


def _tiers(text: str, reader: Reader) -> list[dict[str, int]]:
    tiers = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        hours, _, fee = part.partition(":")
        try:
            tiers.append({"within_hours": int(hours), "fee_percent": int(fee)})
        except ValueError:
            reader.errors["tiers"] = "Write tiers as hours:percent, separated by commas (2:100, 24:50)."
            return []
    if text and not tiers:
        reader.errors["tiers"] = "Write at least one tier."
    return tiers


def read_service(form: Mapping[str, Any]) -> dict[str, Any]:
    """A new service: name, duration, price, currency and policy."""
    reader = Reader(form)
    body: dict[str, Any] = {
        "name": reader.text("name", label="The name", max_length=200),
        "duration_minutes": reader.number("duration_minutes", 5, 24 * 60, label="The duration"),
        "price_cents": _cents(reader.text("price", label="The price"), reader),
        "currency": reader.text("currency", label="The currency", max_length=3).upper(),
    }
    body["cancellation_policy"] = read_policy(form, reader)
    reader.done()
    return body


def _cents(text: str, reader: Reader) -> int | None:
    if not text:
        return None
    try:
        amount = round(float(text) * 100)
    except ValueError:
        reader.errors["price"] = "The price must be a number (12.50)."
        return None
    if amount < 0:
        reader.errors["price"] = "The price cannot be negative."
    return amount


def read_clinic(form: Mapping[str, Any]) -> dict[str, Any]:
    reader = Reader(form)
    body = {"name": reader.text("name", label="The name", max_length=200),
            "timezone": reader.text("timezone", label="The time zone", max_length=64)}
    address = reader.text("address", required=False, max_length=300)
    if body["timezone"] and zone_named(body["timezone"]).key != body["timezone"]:
        reader.errors["timezone"] = "Use an IANA time zone such as Europe/Berlin."
    if address:
        body["address"] = address
    reader.done()
    return body


def read_provider(form: Mapping[str, Any], service_ids: list[str]) -> dict[str, Any]:
    reader = Reader(form)
    body = {"user_id": reader.text("user_id", label="The user"),
            "clinic_id": reader.text("clinic_id", label="The clinic"),
            "display_name": reader.text("display_name", label="The name", max_length=200),
            "service_ids": service_ids}
    if not service_ids:
        reader.errors["service_ids"] = "Choose at least one service."
    reader.done()
    return body


def read_user(form: Mapping[str, Any]) -> dict[str, Any]:
    reader = Reader(form)
    body = {"name": reader.text("name", label="The name", max_length=200),
            "email": reader.text("email", label="The email", max_length=254),
            "password": reader.text("password", label="The password", max_length=200),
            "role": reader.text("role", label="The role")}
    if body["role"] and body["role"] not in ("client", "provider", "admin"):
        reader.errors["role"] = "Choose client, provider or admin."
    reader.done()
    return body


def read_period(form: Mapping[str, Any], today: date, days_back: int = 13, days_ahead: int = 7) -> tuple[date, date]:
    """An analytics period of appointment days: [from, to] (UTC), at most a year; by default the last two weeks and
    the week ahead (what is booked counts too)."""
    reader = Reader(form)
    first = reader.day("from", required=False, label="From") or today - timedelta(days=days_back)
    last = reader.day("to", required=False, label="To") or today + timedelta(days=days_ahead)
    if last < first:
        reader.errors["to"] = "To must not be before From."
    elif (last - first).days > 366:
        reader.errors["to"] = "Choose at most a year."
    reader.done()
    return first, last
