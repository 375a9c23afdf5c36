"""Service settings: which variables an operator sets, secret files, secrets kept out of sight, Redis key names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import pydantic
import pytest
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from smartslot_common.settings import ServiceSettings, shared

API_KEY = "k-0123456789abcdef"


class DemoSettings(ServiceSettings):
    """A service as every real one declares itself: its own prefix plus one shared secret."""

    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_DEMO_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "demo"

    port: int = 8099
    api_key: SecretStr = shared(..., "api_key", min_length=8)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SmartSlot variable (nor a bare one some other program uses) leaks in from the test's environment."""
    bare = ("DATABASE_URL", "REDIS_URL", "AMQP_URL", "NAMESPACE", "LOG_LEVEL", "LOG_JSON", "API_KEY", "PORT")
    for name in [*bare, *(name for name in os.environ if name.upper().startswith("SMARTSLOT_"))]:
        monkeypatch.delenv(name, raising=False)


def test_defaults_reach_the_servers_on_localhost() -> None:
    settings = DemoSettings(api_key=API_KEY)

    assert settings.database_url.get_secret_value() == "postgresql://postgres@127.0.0.1:5432/smartslot"
    assert settings.redis_url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert settings.amqp_url.get_secret_value() == "amqp://guest:guest@127.0.0.1:5672/"
    assert (settings.host, settings.port, settings.namespace, settings.log_level) == ("127.0.0.1", 8099, "", "INFO")


def test_shared_settings_come_from_smartslot_variables_without_the_service_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMARTSLOT_DATABASE_URL", "postgresql://app@db.internal:6432/prod")
    monkeypatch.setenv("SMARTSLOT_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("SMARTSLOT_NAMESPACE", "blue.")
    monkeypatch.setenv("SMARTSLOT_API_KEY", API_KEY)

    settings = DemoSettings.load()

    assert settings.database_url.get_secret_value() == "postgresql://app@db.internal:6432/prod"
    assert (settings.log_level, settings.namespace) == ("DEBUG", "blue.")
    assert settings.api_key.get_secret_value() == API_KEY


def test_service_settings_come_only_from_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSLOT_API_KEY", API_KEY)
    monkeypatch.setenv("SMARTSLOT_PORT", "1111")  # another service's business, or nobody's
    assert DemoSettings.load().port == 8099

    monkeypatch.setenv("SMARTSLOT_DEMO_PORT", "9000")
    assert DemoSettings.load().port == 9000


def test_bare_variables_of_other_programs_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone:else@elsewhere/theirs")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("API_KEY", API_KEY)

    with pytest.raises(pydantic.ValidationError) as refused:
        DemoSettings.load()
    assert [error["loc"] for error in refused.value.errors()] == [("SMARTSLOT_API_KEY",)]

    monkeypatch.setenv("SMARTSLOT_API_KEY", API_KEY)
    settings = DemoSettings.load()
    assert settings.database_url.get_secret_value() == "postgresql://postgres@127.0.0.1:5432/smartslot"
    assert settings.log_level == "INFO"


def test_load_takes_overrides_by_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSLOT_DATABASE_URL", "postgresql://from-env/db")

    settings = DemoSettings.load(database_url="postgresql://from-test/db", port=1234, api_key=API_KEY)

    assert settings.database_url.get_secret_value() == "postgresql://from-test/db"
    assert settings.port == 1234


def test_load_reads_secret_files_named_after_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "smartslot_api_key").write_text(API_KEY + "\n")  # as `echo` writes it
    (tmp_path / "smartslot_database_url").write_text("postgresql://app:from-file@db/prod")
    monkeypatch.setenv("SMARTSLOT_SECRETS_DIR", str(tmp_path))

    settings = DemoSettings.load()

    assert settings.api_key.get_secret_value() == API_KEY
    assert settings.database_url.get_secret_value() == "postgresql://app:from-file@db/prod"


def test_an_explicit_variable_beats_a_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "smartslot_api_key").write_text("from-the-file-0000")
    monkeypatch.setenv("SMARTSLOT_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("SMARTSLOT_API_KEY", API_KEY)

    assert DemoSettings.load().api_key.get_secret_value() == API_KEY


def test_secrets_never_show_in_repr_str_or_json_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSLOT_DATABASE_URL", "postgresql://app:hunter2@db/prod")
    monkeypatch.setenv("SMARTSLOT_AMQP_URL", "amqp://app:rabbit-pass@mq/")
    monkeypatch.setenv("SMARTSLOT_API_KEY", API_KEY)

    settings = DemoSettings.load()

    for shown in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert "hunter2" not in shown
        assert "rabbit-pass" not in shown
        assert API_KEY not in shown


def test_an_invalid_value_is_refused_at_load_naming_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSLOT_API_KEY", "short")
    monkeypatch.setenv("SMARTSLOT_DB_POOL_MIN_SIZE", "0")

    with pytest.raises(pydantic.ValidationError) as refused:
        DemoSettings.load()

    assert {error["loc"] for error in refused.value.errors()} == {
        ("SMARTSLOT_API_KEY",),
        ("SMARTSLOT_DB_POOL_MIN_SIZE",),
    }


@pytest.mark.parametrize(
    ("namespace", "parts", "key"),
    [
        ("", ("hold", "slot-1"), "smartslot:hold:slot-1"),
        ("t1a2b3c4.", ("hold", "slot-1"), "t1a2b3c4.smartslot:hold:slot-1"),
        ("blue.", ("cache",), "blue.smartslot:cache"),
    ],
)
def test_redis_keys_live_inside_the_namespace(namespace: str, parts: tuple[str, ...], key: str) -> None:
    settings = DemoSettings(api_key=API_KEY, namespace=namespace)

    assert settings.redis_key(*parts) == key
    assert key.startswith(namespace)  # what a test run's clean-up deletes by prefix
