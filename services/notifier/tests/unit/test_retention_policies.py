"""What the notifier's retention may delete: inbox rows, finished deliveries and reminders; never the feed."""

from __future__ import annotations

from datetime import timedelta

from notifier.retention import policies
from notifier.settings import NotifierSettings

KEY = "k" * 32  # the identity key other settings tests pass; ignored where the setting does not exist


def test_notifications_pending_deliveries_and_scheduled_reminders_are_never_deleted() -> None:
    by_table = {policy.table: policy for policy in policies(NotifierSettings(internal_identity_key=KEY))}

    assert set(by_table) == {"inbox", "deliveries", "reminders"}
    assert by_table["deliveries"].where == "status <> 'pending'"
    assert by_table["reminders"].where == "status <> 'scheduled'"


def test_a_delivery_is_kept_at_least_as_long_as_the_inbox_row_that_stops_its_event_twice() -> None:
    keep = {policy.table: policy.keep for policy in policies(NotifierSettings(internal_identity_key=KEY))}

    assert keep == {"inbox": timedelta(days=14), "deliveries": timedelta(days=30), "reminders": timedelta(days=30)}
    assert keep["deliveries"] >= keep["inbox"]
