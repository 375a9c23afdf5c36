"""What the waitlist's retention may delete: published outbox rows, inbox rows, early outcomes; never entries."""

from __future__ import annotations

from datetime import timedelta

from waitlist.retention import policies
from waitlist.settings import WaitlistSettings

KEY = "k" * 32  # the identity key other settings tests pass; ignored where the setting does not exist


def test_entries_offers_and_seats_are_never_deleted_and_unpublished_rows_neither() -> None:
    by_table = {policy.table: policy for policy in policies(WaitlistSettings(internal_identity_key=KEY))}

    assert set(by_table) == {"outbox", "inbox", "early_outcomes"}
    assert by_table["outbox"].where == "published_at IS NOT NULL"


def test_an_inbox_row_outlives_the_outbox_row_of_its_event_by_default() -> None:
    keep = {policy.table: policy.keep for policy in policies(WaitlistSettings(internal_identity_key=KEY))}

    assert keep == {"outbox": timedelta(days=7), "inbox": timedelta(days=14), "early_outcomes": timedelta(days=7)}
