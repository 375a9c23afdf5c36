"""What booking's retention may delete: published outbox rows and expired keys, never appointments or their trail."""

from __future__ import annotations

from datetime import timedelta

from booking.retention import policies
from booking.settings import BookingSettings

KEY = "k" * 32  # the identity key other settings tests pass; ignored where the setting does not exist


def test_only_published_outbox_rows_and_expired_idempotency_keys_are_ever_deleted() -> None:
    by_table = {policy.table: policy for policy in policies(BookingSettings(internal_identity_key=KEY))}

    assert set(by_table) == {"outbox", "idempotency_keys"}
    assert by_table["outbox"].column == "published_at"
    assert by_table["outbox"].where == "published_at IS NOT NULL"
    assert by_table["idempotency_keys"].column == "expires_at"


def test_the_windows_come_from_the_settings() -> None:
    settings = BookingSettings(internal_identity_key=KEY, retention_outbox="3d", retention_idempotency_keys="12h")

    keep = {policy.table: policy.keep for policy in policies(settings)}

    assert keep == {"outbox": timedelta(days=3), "idempotency_keys": timedelta(hours=12)}
