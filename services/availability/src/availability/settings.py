"""Availability settings: env prefix `SMARTSLOT_AVAILABILITY_`, plus the shared replica URL."""

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from smartslot_common.settings import ServiceSettings, shared


class AvailabilitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_AVAILABILITY_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "availability"

    port: int = 8082
    replica_database_url: SecretStr | None = shared(None, "replica_database_url")
    cache_ttl_seconds: int = Field(30, ge=1, le=3600)
    max_range_days: int = Field(31, ge=1)
