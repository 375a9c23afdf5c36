"""The public API's answers as the console reads them: only the fields pages show, extra fields ignored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(Shape):
    id: str
    email: str
    name: str
    role: str


class AccessToken(Shape):
    access_token: str
    expires_in: int


class Service(Shape):
    id: str
    name: str
    duration_minutes: int
    price_cents: int
    currency: str
    cancellation_policy: dict[str, Any] = Field(default_factory=dict)


class Clinic(Shape):
    id: str
    name: str
    timezone: str
    address: str | None = None


class Provider(Shape):
    id: str
    user_id: str
    clinic_id: str
    display_name: str
    timezone: str
    service_ids: list[str] = Field(default_factory=list)


class OpenSlot(Shape):
    """A slot with a free seat, as availability answers it."""

    slot_id: str
    provider_id: str
    service_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    remaining: int


class Slot(Shape):
    """A provider's slot, as a schedule lists it."""

    id: str
    service_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int = 1
    held: int = 0
    booked: int = 0
    status: str = "open"


class Appointment(Shape):
    id: str
    status: str
    slot_id: str
    provider_id: str
    service_id: str
    client_id: str
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime | None = None
    origin: str = "client"
    fee_cents: int = 0
    currency: str = ""


class Schedule(Shape):
    date: str
    timezone: str
    slots: list[Slot]
    appointments: list[Appointment]


class Quote(Shape):
    fee_cents: int
    currency: str
    policy: dict[str, Any] = Field(default_factory=dict)


class WaitlistEntry(Shape):
    id: str
    status: str
    service_id: str
    provider_id: str | None = None
    slot_id: str | None = None
    position: int | None = None
    created_at: datetime | None = None


class Notification(Shape):
    id: str
    kind: str
    title: str
    body: str
    appointment_id: str | None = None
    created_at: datetime
    read_at: datetime | None = None


class WorkingHoursRule(Shape):
    """One weekly period: `start` and `end` are local wall-clock times (HH:MM) in the provider's zone."""

    weekday: int
    start: str
    end: str
    service_id: str


class TimeOff(Shape):
    id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    blocked_slot_ids: list[str] = Field(default_factory=list)
    cancelled_appointment_ids: list[str] = Field(default_factory=list)


class Figures(Shape):
    """One set of analytics figures (overall, one provider's or one clinic's)."""

    bookings: dict[str, int]
    utilization: float
    cancellation_rate: float
    fees_cents: int
    hold_conversion: float
    waitlist: dict[str, float]


class ProviderFigures(Figures):
    provider_id: str
    display_name: str
    clinic_id: str


class ClinicFigures(Figures):
    clinic_id: str
    name: str


class Analytics(Figures):
    by_provider: list[ProviderFigures] = Field(default_factory=list)
    by_clinic: list[ClinicFigures] = Field(default_factory=list)


class ServiceHealth(Shape):
    status: str
    latency_ms: float


class Health(Shape):
    status: str
    services: dict[str, ServiceHealth]
    dependencies: dict[str, str]
