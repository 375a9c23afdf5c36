import pytest
from pydantic import ValidationError

from notifier.settings import NotifierSettings


def test_defaults_are_sound():
    settings = NotifierSettings()

    assert settings.reminder_offsets_seconds == (86400, 3600)
    assert settings.delivery_lease_seconds > settings.smtp_timeout_seconds


def test_offsets_from_the_environment(monkeypatch):
    monkeypatch.setenv("SMARTSLOT_NOTIFIER_REMINDER_OFFSETS_SECONDS", "[172800, 7200]")
    monkeypatch.setenv("SMARTSLOT_NOTIFIER_SMTP_PORT", "2525")

    settings = NotifierSettings()

    assert (settings.reminder_offsets_seconds, settings.smtp_port) == ((172800, 7200), 2525)


@pytest.mark.parametrize("changes", [
    {"delivery_lease_seconds": 5, "smtp_timeout_seconds": 10},
    {"delivery_lease_seconds": 5, "webhook_timeout_seconds": 5},
    {"reminder_offsets_seconds": (3600, 0)},
])
def test_inconsistent_settings_fail_fast(changes):
    with pytest.raises(ValidationError):
        NotifierSettings(**changes)
