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


def test_webhooks_are_https_to_public_addresses_unless_a_development_setting_says_otherwise(monkeypatch):
    assert (NotifierSettings().webhooks_allow_http, NotifierSettings().webhooks_allowed_networks) == (False, ())

    monkeypatch.setenv("SMARTSLOT_NOTIFIER_WEBHOOKS_ALLOW_HTTP", "true")
    monkeypatch.setenv("SMARTSLOT_NOTIFIER_WEBHOOKS_ALLOWED_NETWORKS", "127.0.0.0/8, ::1/128")
    settings = NotifierSettings()

    assert settings.webhooks_allow_http is True
    assert [str(net) for net in settings.webhooks_allowed_networks] == ["127.0.0.0/8", "::1/128"]


@pytest.mark.parametrize("networks", ["127.0.0.1/8", "localhost", "10.0.0.0/33"])
def test_an_allowed_network_must_be_a_network(monkeypatch, networks):
    monkeypatch.setenv("SMARTSLOT_NOTIFIER_WEBHOOKS_ALLOWED_NETWORKS", networks)

    with pytest.raises(ValidationError):
        NotifierSettings()
