"""Retention policies and the windows operators write in settings: `7d`, `36h`, `2w`, seconds or ISO 8601."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsConfigDict

from smartslot_common.retention import RetainingSettings, RetentionPolicy, RetentionWindow


class Windows(BaseModel):
    keep: RetentionWindow


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("7d", timedelta(days=7)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 14D ", timedelta(days=14)),
        ("0.5d", timedelta(hours=12)),
        ("3600", timedelta(hours=1)),
        ("45s", timedelta(seconds=45)),
        (86400, timedelta(days=1)),
        ("P7D", timedelta(days=7)),
        ("PT36H", timedelta(hours=36)),
    ],
)
def test_a_window_reads_as_written(text: object, window: timedelta) -> None:
    assert Windows(keep=text).keep == window


@pytest.mark.parametrize("text", ["0", "0d", "-1d", "7 fortnights", "d", "", "7x", "soon"])
def test_a_window_that_is_empty_negative_or_unreadable_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        Windows(keep=text)


def test_a_batch_takes_the_oldest_rows_past_the_window_with_the_predicate_and_skips_locked_ones() -> None:
    policy = RetentionPolicy("outbox", "published_at", timedelta(days=7), where="published_at IS NOT NULL")

    sql = policy.delete_batch_sql

    assert sql.startswith("DELETE FROM outbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM outbox ")
    assert "WHERE published_at < now() - $1::interval AND (published_at IS NOT NULL)" in sql
    assert sql.endswith("ORDER BY published_at LIMIT $2 FOR UPDATE SKIP LOCKED))")


def test_the_oldest_age_is_taken_over_the_rows_the_policy_covers() -> None:
    policy = RetentionPolicy("deliveries", "created_at", timedelta(days=30), where="status <> 'pending'")

    assert policy.oldest_age_sql.endswith("FROM deliveries WHERE created_at IS NOT NULL AND (status <> 'pending')")


@pytest.mark.parametrize(
    ("table", "column"),
    [("outbox; DROP TABLE x", "created_at"), ("outbox", "Created At"), ("booking.outbox", "created_at")],
)
def test_names_that_are_not_plain_identifiers_are_refused(table: str, column: str) -> None:
    with pytest.raises(ValueError, match="plain lower-case identifier"):
        RetentionPolicy(table, column, timedelta(days=1))


def test_a_policy_keeps_rows_for_some_time() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        RetentionPolicy("inbox", "received_at", timedelta(0))


class DemoSettings(RetainingSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_DEMO_", extra="ignore", populate_by_name=True)

    retention_outbox: RetentionWindow = timedelta(days=7)


def test_a_service_reads_its_windows_interval_and_batch_size_from_its_own_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMARTSLOT_DEMO_RETENTION_OUTBOX", "36h")
    monkeypatch.setenv("SMARTSLOT_DEMO_RETENTION_INTERVAL_SECONDS", "60")
    monkeypatch.setenv("SMARTSLOT_DEMO_RETENTION_BATCH_SIZE", "250")

    settings = DemoSettings.load()

    assert settings.retention_outbox == timedelta(hours=36)
    assert settings.retention_interval_seconds == 60
    assert settings.retention_batch_size == 250


def test_the_defaults_run_every_five_minutes_in_batches_of_a_thousand() -> None:
    settings = DemoSettings()

    assert (settings.retention_outbox, settings.retention_interval_seconds, settings.retention_batch_size) == (
        timedelta(days=7),
        300,
        1000,
    )


@pytest.mark.parametrize(
    ("name", "value"), [("RETENTION_OUTBOX", "0d"), ("RETENTION_BATCH_SIZE", "0"), ("RETENTION_INTERVAL_SECONDS", "0")]
)
def test_a_window_batch_or_interval_of_nothing_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"SMARTSLOT_DEMO_{name}", value)

    with pytest.raises(ValidationError):
        DemoSettings.load()
