"""load_or_exit: a service with a wrong setting stops at once with one line naming the variable to fix."""

from __future__ import annotations

import os
from typing import ClassVar

import pytest
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from smartslot_common.runtime import load_or_exit
from smartslot_common.settings import IdentitySettings, ServiceSettings, shared


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_DEMO_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "demo"

    port: int = 8099
    peers: list[str] = []
    api_key: SecretStr = shared(..., "api_key", min_length=12)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.upper().startswith("SMARTSLOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SMARTSLOT_API_KEY", "k-0123456789abcdef")


def _exit_line(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        load_or_exit(DemoSettings)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("demo: invalid settings (")
    assert line.endswith("see the configuration table in README.md")
    return line


def test_valid_settings_are_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSLOT_DEMO_PEERS", '["http://a", "http://b"]')

    settings = load_or_exit(DemoSettings)

    assert settings.peers == ["http://a", "http://b"]


def test_a_bad_service_setting_names_its_prefixed_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARTSLOT_DEMO_PORT", "eighty")

    assert "(SMARTSLOT_DEMO_PORT: Input should be a valid integer" in _exit_line(capsys)


def test_a_missing_shared_secret_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SMARTSLOT_API_KEY")

    assert "(SMARTSLOT_API_KEY: Field required)" in _exit_line(capsys)


def test_a_rejected_secret_is_named_but_never_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARTSLOT_API_KEY", "hunter2")

    line = _exit_line(capsys)

    assert "SMARTSLOT_API_KEY" in line
    assert "hunter2" not in line


def test_a_list_setting_that_is_not_json_names_its_variable_instead_of_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARTSLOT_DEMO_PEERS", "http://a,http://b")

    assert "(SMARTSLOT_DEMO_PEERS: not valid JSON" in _exit_line(capsys)


def test_every_wrong_setting_is_named_on_the_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARTSLOT_DEMO_PORT", "eighty")
    monkeypatch.setenv("SMARTSLOT_DB_POOL_MAX_SIZE", "0")

    line = _exit_line(capsys)

    assert "SMARTSLOT_DEMO_PORT:" in line
    assert "SMARTSLOT_DB_POOL_MAX_SIZE:" in line


class DemoIdentitySettings(IdentitySettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_DEMO_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "demo"


def test_a_service_reading_identities_without_the_identity_key_names_it_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        load_or_exit(DemoIdentitySettings)

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("demo: invalid settings (SMARTSLOT_INTERNAL_IDENTITY_KEY: Value error, required")


def test_a_short_identity_key_is_refused_and_never_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARTSLOT_INTERNAL_IDENTITY_KEY", "too-short-a-key")

    with pytest.raises(SystemExit):
        load_or_exit(DemoIdentitySettings)

    (line,) = capsys.readouterr().err.splitlines()
    assert "SMARTSLOT_INTERNAL_IDENTITY_KEY: " in line
    assert "too-short-a-key" not in line


def test_the_identity_key_and_its_window_come_from_the_shared_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSLOT_INTERNAL_IDENTITY_KEY", "k" * 32)
    monkeypatch.setenv("SMARTSLOT_INTERNAL_IDENTITY_MAX_AGE_SECONDS", "10")

    settings = load_or_exit(DemoIdentitySettings)

    assert settings.internal_identity_key is not None
    assert (settings.internal_identity_key.get_secret_value(), settings.internal_identity_max_age_seconds) == (
        "k" * 32, 10)
