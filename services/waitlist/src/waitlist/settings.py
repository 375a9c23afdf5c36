"""Waitlist settings: env prefix `SMARTSLOT_WAITLIST_`, plus the shared offer and sweep knobs."""

import uuid
from datetime import timedelta
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from smartslot_common.retention import RetainingSettings, RetentionWindow
from smartslot_common.settings import IdentitySettings, shared

# Booking scopes Idempotency-Keys to the caller, so every waitlist process calls it as this one system user: a key
# re-sent after a crash, by any process, replays the first answer.
WAITLIST_SYSTEM_USER = uuid.UUID("5e5a1e75-7a17-4b1e-9a17-000000000001")


class WaitlistSettings(RetainingSettings, IdentitySettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_WAITLIST_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "waitlist"

    port: int = 8083
    booking_url: str = "http://127.0.0.1:8081"
    offer_ttl_seconds: int = shared(300, "offer_ttl_seconds", ge=1, le=24 * 3600)
    sweep_interval_seconds: float = shared(1.0, "sweep_interval_seconds", gt=0)
    max_live_entries: int = Field(5, ge=1, description="Waiting or offered entries one client may have at once")
    booking_timeout_seconds: float = Field(5.0, gt=0, description="Whole-call timeout of each request to booking")
    request_lease_seconds: float = Field(
        15.0, gt=0,
        description="How long a hold request in flight belongs to the process that sent it; after that the sweeper "
        "re-sends it with the same Idempotency-Key (crash recovery). Keep it above booking_timeout_seconds",
    )
    busy_retries: int = Field(
        3, ge=0,
        description="Re-tries, each with a new Idempotency-Key, of a hold refused with 409 slot_held or "
        "slot_unavailable: both can be brief (a public hold's gate; booking's own expiry of the last hold committing)",
    )
    busy_retry_delay_seconds: float = Field(0.2, ge=0, description="Back-off unit between those re-tries")
    recheck_seconds: float = Field(
        2.0, gt=0, description="After the next hold failed behind an overdue offer, wait this long for booking's word"
    )
    sweep_batch_size: int = Field(100, ge=1)
    system_user_id: uuid.UUID = WAITLIST_SYSTEM_USER
    # Retention (waitlist/retention.py): published outbox rows after publishing, inbox rows after receipt (they must
    # outlive every redelivery: replay dead letters within this), early outcomes after they were recorded.
    retention_outbox: RetentionWindow = Field(timedelta(days=7), description="Published outbox rows, after publishing")
    retention_inbox: RetentionWindow = Field(timedelta(days=14), description="Processed-event inbox rows")
    retention_early_outcomes: RetentionWindow = Field(timedelta(days=7), description="Early outcomes of holds")
