"""Notifier settings: env prefix `SMARTSLOT_NOTIFIER_`."""

import json
from datetime import timedelta
from typing import Annotated, ClassVar, Self

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from smartslot_common.retention import RetainingSettings, RetentionWindow
from smartslot_common.settings import IdentitySettings


class NotifierSettings(RetainingSettings, IdentitySettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_NOTIFIER_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "notifier"

    port: int = 8084

    # SMTP
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_use_tls: bool = False  # implicit TLS (port 465); STARTTLS is used whenever the server offers it
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    # kept-open connections, each carrying one message at a time: this many emails are sent at once
    smtp_connections: int = Field(8, ge=1)
    mail_from: str = "SmartSlot <no-reply@smartslot.localhost>"
    message_id_domain: str = "smartslot.localhost"

    # reminders: one row per offset before the start; the poller sends what is due by the database clock
    reminder_offsets_seconds: tuple[int, ...] = (24 * 3600, 3600)
    reminder_poll_interval_seconds: float = Field(5.0, gt=0)
    reminder_batch_size: int = Field(100, ge=1)

    # deliveries (email and webhook): claimed with a lease, retried with capped exponential backoff
    delivery_poll_interval_seconds: float = Field(1.0, gt=0)
    delivery_batch_size: int = Field(50, ge=1)
    delivery_lease_seconds: float = Field(60.0, gt=0)
    delivery_retry_base_seconds: float = Field(2.0, gt=0)
    delivery_retry_cap_seconds: float = Field(600.0, gt=0)
    email_max_attempts: int = Field(10, ge=1)

    # webhooks
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_max_attempts: int = Field(8, ge=1)
    webhook_disable_after_failures: int = Field(10, ge=1)
    # A signing secret replaced by `rotate-secret` keeps signing beside the new one this long (receivers switch).
    webhook_secret_overlap_seconds: int = Field(24 * 3600, ge=0)
    # Endpoints must be https and resolve to public addresses only, checked when registered and at every delivery.
    # For development and tests: allow plain http, and addresses inside these networks (CIDRs, comma-separated).
    webhooks_allow_http: bool = False
    webhooks_allowed_networks: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = ()

    consumer_prefetch: int = Field(32, ge=1)

    # Retention (notifier/retention.py): inbox rows after receipt (they must outlive every redelivery: replay dead
    # letters within this), sent or failed deliveries after they were queued, finished reminders after they were due.
    retention_inbox: RetentionWindow = Field(timedelta(days=14), description="Processed-event inbox rows")
    retention_deliveries: RetentionWindow = Field(timedelta(days=30), description="Sent or failed deliveries")
    retention_reminders: RetentionWindow = Field(timedelta(days=30), description="Sent, cancelled or missed reminders")

    @field_validator("webhooks_allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            return json.loads(value)
        return tuple(net.strip() for net in value.split(",") if net.strip())

    @model_validator(mode="after")
    def _lease_outlives_a_send(self) -> Self:
        # A claimed delivery is retried by anyone once its lease ends: a send still running then would be doubled.
        longest = max(self.smtp_timeout_seconds, self.webhook_timeout_seconds)
        if self.delivery_lease_seconds <= longest:
            raise ValueError(f"delivery_lease_seconds must exceed the longest send timeout ({longest}s)")
        if any(offset <= 0 for offset in self.reminder_offsets_seconds):
            raise ValueError("reminder_offsets_seconds must be positive")
        return self
