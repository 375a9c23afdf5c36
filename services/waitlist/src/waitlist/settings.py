"""Waitlist settings: env prefix `SMARTSLOT_WAITLIST_`, plus the shared offer knob."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from smartslot_common.settings import ServiceSettings, shared


class WaitlistSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_WAITLIST_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "waitlist"

    port: int = 8083
    booking_url: str = "http://127.0.0.1:8081"
    offer_ttl_seconds: int = shared(300, "offer_ttl_seconds", ge=1)
