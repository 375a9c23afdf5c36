"""Request and response bodies of booking's HTTP API (the public ones reach it through the gateway)."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None
    return name


TimeZoneName = Annotated[str, AfterValidator(_zone)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlexiblePolicy(Strict):
    kind: Literal["flexible"]


class StrictPolicy(Strict):
    kind: Literal["strict"]
    window_hours: int = Field(24, ge=1, le=24 * 30)
    fee_percent: int = Field(50, ge=0, le=100)


class Tier(Strict):
    within_hours: int = Field(ge=1, le=24 * 30)
    fee_percent: int = Field(ge=0, le=100)


class TieredPolicy(Strict):
    kind: Literal["tiered"]
    tiers: list[Tier] = Field(min_length=1, max_length=10)


CancellationPolicy = Annotated[FlexiblePolicy | StrictPolicy | TieredPolicy, Field(discriminator="kind")]


class CreateService(Strict):
    name: str = Field(min_length=1, max_length=200)
    duration_minutes: int = Field(ge=5, le=480)
    price_cents: int = Field(ge=0)
    currency: Currency
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
    weekday: int = Field(ge=0, le=6)
    start: time
    end: time
    service_id: uuid.UUID


class SetWorkingHours(Strict):
    rules: list[WorkingHoursRuleIn] = Field(max_length=100)


class CreateSlot(Strict):
    service_id: uuid.UUID
    starts_at: AwareDatetime
    capacity: int = Field(1, ge=1, le=1000)


class HoldRequest(Strict):
    slot_id: uuid.UUID


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
