"""Request and response bodies of booking's HTTP API (the public ones reach it through the gateway)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationInfo, field_validator, model_validator

from booking.domain.policies import policy_from
from booking.domain.schedule import first_overlap
from smartslot_common.http.fields import Boolean, CurrencyCode, Integer, LocalTime, Timestamp, TimeZoneName
from smartslot_common.http.queries import PageQuery as PageQuery  # the lists of the catalog take it as it is

MAX_PRICE_CENTS = 100_000_000  # a million in major units: far above any appointment, far below the column's range


class Strict(BaseModel):
    """A request body: unknown fields are refused, and integers, booleans, instants, currencies and zones are typed
    with `smartslot_common.http.fields`, which take only what the published JSON Schema allows."""

    model_config = ConfigDict(extra="forbid")


class FlexiblePolicy(Strict):
    kind: Literal["flexible"]


class StrictPolicy(Strict):
    kind: Literal["strict"]
    window_hours: Integer = Field(24, ge=1, le=24 * 30)
    fee_percent: Integer = Field(50, ge=0, le=100)


class Tier(Strict):
    within_hours: Integer = Field(ge=1, le=24 * 30)
    fee_percent: Integer = Field(ge=0, le=100)


class TieredPolicy(Strict):
    kind: Literal["tiered"]
    tiers: list[Tier] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        # The domain is the judge of a coherent ladder (no repeated window, nearer never cheaper): refuse here what
        # it would refuse later, so a bad policy is a 422 now rather than a failure at the first cancellation.
        policy_from(self.model_dump())
        return self


CancellationPolicy = Annotated[FlexiblePolicy | StrictPolicy | TieredPolicy, Field(discriminator="kind")]


class CreateService(Strict):
    name: str = Field(min_length=1, max_length=200)
    duration_minutes: Integer = Field(ge=5, le=480)
    price_cents: Integer = Field(ge=0, le=MAX_PRICE_CENTS)
    currency: CurrencyCode
    cancellation_policy: CancellationPolicy


class CreateClinic(Strict):
    name: str = Field(min_length=1, max_length=200)
    timezone: TimeZoneName
    address: str | None = Field(None, max_length=500)


class CreateProvider(Strict):
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    display_name: str = Field(min_length=1, max_length=200)
    timezone: TimeZoneName | None = None
    service_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)


class WorkingHoursRuleIn(Strict):
    weekday: Integer = Field(ge=0, le=6)
    start: LocalTime
    end: LocalTime
    service_id: uuid.UUID

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class SetWorkingHours(Strict):
    rules: list[WorkingHoursRuleIn] = Field(max_length=100)

    @field_validator("rules")
    @classmethod
    def _no_overlap_within_a_weekday(cls, rules: list[WorkingHoursRuleIn]) -> list[WorkingHoursRuleIn]:
        if overlap := first_overlap(rules):
            a, b = overlap
            raise ValueError(f"rules overlap on weekday {a.weekday}: {a.start}-{a.end} and {b.start}-{b.end}")
        return rules


class CreateTimeOff(Strict):
    starts_at: Timestamp
    ends_at: Timestamp
    reason: str = Field(min_length=1, max_length=500)
    cancel_conflicting: Boolean = False

    @field_validator("ends_at")
    @classmethod
    def _ends_after_it_starts(cls, ends_at: datetime, info: ValidationInfo) -> datetime:
        starts_at = info.data.get("starts_at")
        if starts_at is not None and ends_at <= starts_at:
            raise ValueError("ends_at must be after starts_at")
        return ends_at


# A PATCH field that may be left out but not sent as null: None stands for "left out" (only model_fields_set is
# read), so the None default deliberately differs from the declared type, which is what the JSON schema allows.


class UpdateClinic(Strict):
    """Only the fields sent change; `address` may be set to null."""

    name: str = Field(None, min_length=1, max_length=200)  # type: ignore[assignment]
    timezone: TimeZoneName = None
    address: str | None = Field(None, max_length=500)


class UpdateService(Strict):
    """Only the fields sent change; none may be null."""

    name: str = Field(None, min_length=1, max_length=200)  # type: ignore[assignment]
    duration_minutes: Integer = Field(None, ge=5, le=480)  # type: ignore[assignment]
    price_cents: Integer = Field(None, ge=0, le=MAX_PRICE_CENTS)  # type: ignore[assignment]
    currency: CurrencyCode = None
    cancellation_policy: CancellationPolicy = None  # type: ignore[assignment]


class ProviderQuery(PageQuery):
    service_id: uuid.UUID | None = None
    clinic_id: uuid.UUID | None = None


class CreateSlot(Strict):
    service_id: uuid.UUID
    starts_at: Timestamp
    capacity: Integer = Field(1, ge=1, le=1000)


class HoldRequest(Strict):
    slot_id: uuid.UUID


class JsonObject(RootModel[dict[str, Any]]):
    """Any JSON object: read first when a body's fields decide which request model it is."""


class SeatAtTimeRequest(Strict):
    """A seat of a service at a start time; without `provider_id`, booking picks the provider."""

    service_id: uuid.UUID
    starts_at: Timestamp
    provider_id: uuid.UUID | None = None


class WaitlistHoldRequest(Strict):
    """The waitlist's hold for the client it offers a slot to, for the offer's TTL."""

    slot_id: uuid.UUID
    client_id: uuid.UUID
    ttl_seconds: Integer = Field(ge=1, le=24 * 3600)
    client_email: str | None = Field(None, max_length=320)
    client_name: str | None = Field(None, max_length=200)


class Appointment(BaseModel):
    id: uuid.UUID
    status: str
    slot_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime | None
    origin: str
    assignment: str
    fee_cents: int
    currency: str
    created_at: datetime
    updated_at: datetime


# --- response bodies (documentation: the gateway's OpenAPI generator reads them; handlers may render through them) ---


class Clinic(BaseModel):
    id: uuid.UUID
    name: str
    timezone: str
    address: str | None
    created_at: datetime


class Service(BaseModel):
    id: uuid.UUID
    name: str
    duration_minutes: int
    price_cents: int
    currency: str
    cancellation_policy: CancellationPolicy
    created_at: datetime


class Provider(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    display_name: str
    timezone: str
    service_ids: list[uuid.UUID]
    created_at: datetime


class Slot(BaseModel):
    id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    held: int
    booked: int
    status: str
    version: int


class WeeklyHours(BaseModel):
    """A provider's weekly working hours in the shape the PUT takes, local times as set: read, edit, send back."""

    rules: list[WorkingHoursRuleIn]


class WorkingHours(BaseModel):
    """The answer to setting working hours: the rules stored and how many slots they created."""

    provider_id: uuid.UUID
    rules: list[WorkingHoursRuleIn]
    slots_created: int


class TimeOff(BaseModel):
    id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    blocked_slot_ids: list[uuid.UUID]
    cancelled_appointment_ids: list[uuid.UUID]
    created_at: datetime


class CancellationQuote(BaseModel):
    fee_cents: int
    currency: str
    policy: dict[str, Any] = Field(description="the service's cancellation policy, as it was created")
    appointment_id: uuid.UUID
    quoted_at: datetime
