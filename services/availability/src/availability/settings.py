"""Availability settings: env prefix `SMARTSLOT_AVAILABILITY_`, plus the shared replica URL."""

from typing import ClassVar, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from smartslot_common.settings import IdentitySettings, shared


class AvailabilitySettings(IdentitySettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_AVAILABILITY_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "availability"

    port: int = 8082
    replica_database_url: SecretStr | None = shared(None, "replica_database_url")
    cache_ttl_seconds: int = Field(30, ge=1, le=3600, description="lifetime of a cached day page")
    # A fence must outlive every page it judges, and any replica lag worth caching through.
    fence_ttl_seconds: int = Field(3600, ge=2, le=7 * 86400, description="lifetime of an invalidation's WAL fence")
    service_ttl_seconds: int = Field(60, ge=1, le=3600, description="how long 'this service exists' is cached")
    unknown_service_ttl_seconds: int = Field(5, ge=1, le=300, description="how long 'no such service' is cached")
    local_page_entries: int = Field(
        100_000, ge=0, description="slot entries of day pages each process also keeps in memory (0: none)"
    )
    answer_cache_bytes: int = Field(
        32 * 1024 * 1024, ge=0, description="memory per process for whole answers of recent searches (0: none kept)"
    )
    max_range_days: int = Field(31, ge=1)
    replica_lag_degraded_seconds: float = Field(
        30.0, gt=0, description="/readyz reports the replica's replay lag as degraded beyond this many seconds"
    )
    # Live slot stream (GET /v1/availability/stream): changes kept in Redis (shared by every process, so a resume may
    # land on any of them) and mirrored in each process's memory.
    live_log_entries: int = Field(10_000, ge=100, le=1_000_000, description="changes the live stream keeps")
    live_heartbeat_seconds: float = Field(15.0, gt=0, le=15, description="a comment at least this often")
    max_analytics_days: int = Field(366, ge=1)

    @model_validator(mode="after")
    def _fences_outlive_pages(self) -> Self:
        if self.fence_ttl_seconds <= self.cache_ttl_seconds:
            raise ValueError("fence_ttl_seconds must exceed cache_ttl_seconds")
        return self
