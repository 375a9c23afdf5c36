"""Models the OpenAPI document needs that no service publishes (yet): problem details, list pages, request and
response bodies of calls whose service side is still being built, and the gateway's operator answers.

A model another service publishes is referred to by name (`Published`), never imported: its schema comes from that
service's fragment. Imported only by the generator, never by the running gateway.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema

from smartslot_common.contracts.openapi import REF_TEMPLATE

# A list's `?limit=&cursor=`, documented as the services validate it.
from smartslot_common.http.queries import PageQuery as PageParameters  # noqa: F401

State = Literal["ok", "unknown", "degraded", "down"]


def published(model: str) -> WithJsonSchema:
    """The schema of a model another service publishes: a reference to it by its name in `components.schemas`
    (the generator checks that every reference resolves)."""
    return WithJsonSchema({"$ref": REF_TEMPLATE.format(model=model)})


Appointment = Annotated[Any, published("Appointment")]
Clinic = Annotated[Any, published("Clinic")]
HoldRequest = Annotated[Any, published("HoldRequest")]
Provider = Annotated[Any, published("Provider")]
SeatAtTimeRequest = Annotated[Any, published("SeatAtTimeRequest")]
Service = Annotated[Any, published("Service")]
Slot = Annotated[Any, published("Slot")]


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the failing field, or the parameter's name")
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem: every 4xx and 5xx answer has this shape."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="the stable error code; see each response's description for the possible ones")
    trace_id: str | None = None
    errors: list[FieldError] | None = Field(None, description="the failing fields, on validation errors")


class SeatRequest(RootModel[HoldRequest | SeatAtTimeRequest]):
    """A named slot, or a service at a start time (booking picks the provider when none is named)."""


class ServicePage(BaseModel):
    items: list[Service]
    next_cursor: str | None


class ClinicPage(BaseModel):
    items: list[Clinic]
    next_cursor: str | None


class ProviderPage(BaseModel):
    items: list[Provider]
    next_cursor: str | None


class AppointmentPage(BaseModel):
    items: list[Appointment]
    next_cursor: str | None


class AvailableSlot(BaseModel):
    slot_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    remaining: int


class Availability(BaseModel):
    slots: list[AvailableSlot]


class Schedule(BaseModel):
    date: date
    timezone: str
    slots: list[Slot]
    appointments: list[Appointment]


class Notification(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    appointment_id: uuid.UUID | None
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[Notification]
    next_cursor: str | None





class BookingCounts(BaseModel):
    confirmed: int
    cancelled: int
    completed: int
    expired: int
    no_show: int


class WaitlistFigures(BaseModel):
    offers: int
    accepted: int
    fill_rate: float


class Analytics(BaseModel):
    bookings: BookingCounts
    utilization: float
    cancellation_rate: float
    fees_cents: int
    hold_conversion: float
    waitlist: WaitlistFigures
    by_provider: list[dict[str, Any]]
    by_clinic: list[dict[str, Any]]


class ServiceHealth(BaseModel):
    status: State
    latency_ms: float


class DependencyHealth(BaseModel):
    postgres: State
    redis: State
    rabbitmq: State


class AdminHealth(BaseModel):
    status: Literal["ok", "degraded"]
    services: dict[str, ServiceHealth]
    dependencies: DependencyHealth


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]
    down: list[str] | None = None
