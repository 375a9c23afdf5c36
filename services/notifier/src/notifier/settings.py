"""Notifier settings: env prefix `SMARTSLOT_NOTIFIER_`."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from smartslot_common.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_NOTIFIER_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "notifier"

    port: int = 8084
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
