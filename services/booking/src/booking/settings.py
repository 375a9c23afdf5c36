"""Booking's settings: env prefix `SMARTSLOT_BOOKING_`, plus the shared knobs of the public contract."""

from datetime import timedelta
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from smartslot_common.retention import RetainingSettings, RetentionWindow
from smartslot_common.settings import IdentitySettings, shared


class BookingSettings(RetainingSettings, IdentitySettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_BOOKING_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "booking"

    port: int = 8081
    hold_ttl_seconds: int = shared(300, "hold_ttl_seconds", ge=1)
    sweep_interval_seconds: float = shared(1.0, "sweep_interval_seconds", gt=0)
    booking_horizon_days: int = shared(60, "booking_horizon_days", ge=1, le=366)
    max_live_holds: int = Field(3, ge=1)
    lock_gate_seconds: float = Field(
        5.0, gt=0, le=60, description="Life of a slot's lock while a claim runs; a one-seat hold keeps it for its TTL"
    )
    refusal_memory_seconds: float = Field(
        1.0, ge=0, le=10, description="How long a process refuses public claims from memory on a slot it found held by "
        "a one-seat hold or full (0: always ask Redis and PostgreSQL)",
    )
    suggestions_cache_seconds: float = Field(
        3.0, ge=0, le=60, description="How long a conflict's suggested slots are shared from Redis; 0 disables it"
    )
    waitlist_buffer_seconds: int = shared(
        600, "waitlist_buffer_seconds", ge=0,
        description="A slot freed by a provider or admin stays out of the public pool this long while the waitlist "
        "has first call on it (0: straight back to the public)",
    )
    lock_redis_urls: list[SecretStr] = Field(
        default_factory=list, description="Redlock masters; empty means the one SMARTSLOT_REDIS_URL"
    )
    # Retention (booking/retention.py): how long published outbox rows are kept, and idempotency keys past expiry.
    retention_outbox: RetentionWindow = Field(timedelta(days=7), description="Published outbox rows, after publishing")
    retention_idempotency_keys: RetentionWindow = Field(
        timedelta(days=1), description="Idempotency keys, after they expired (24 hours after their call)"
    )
