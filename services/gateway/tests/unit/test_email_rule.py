"""One rule for an account's address: registration, an admin creating a user and the bootstrap admin's setting accept
and refuse the same addresses (no reserved or special-use domain) and store them normalised the same way."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.entrypoints import schemas
from gateway.settings import GatewaySettings
from smartslot_common.runtime import load_or_exit

SECRET = "unit-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
REFUSED = ["admin@smartslot.test", "admin@clinic.invalid", "admin@clinic.local", "admin@localhost",
           "admin@example.onion", "not-an-address", "admin@", "@example.com", ""]
ACCEPTED = {"admin@example.com": "admin@example.com", "  Admin@Example.COM ": "admin@example.com",
            "Dr. Weber <Weber@Praxis-Mitte.de>": "weber@praxis-mitte.de"}


def registered(email: str) -> str:
    return schemas.Register(email=email, password="long-enough", name="Ada").email


def created_by_an_admin(email: str) -> str:
    return schemas.CreateUser(email=email, password="long-enough", name="Ada", role="provider").email


def bootstrap(email: str) -> str | None:
    return GatewaySettings(jwt_secret=SECRET, bootstrap_admin_email=email).bootstrap_admin_email


WAYS_IN = [registered, created_by_an_admin, bootstrap]


@pytest.mark.parametrize("way_in", WAYS_IN)
@pytest.mark.parametrize("email", REFUSED)
def test_every_way_in_refuses_the_same_addresses(way_in, email: str) -> None:
    with pytest.raises(ValidationError, match="email"):
        way_in(email)


@pytest.mark.parametrize("way_in", WAYS_IN)
@pytest.mark.parametrize(("email", "stored"), ACCEPTED.items())
def test_every_way_in_accepts_and_normalises_the_same_addresses(way_in, email: str, stored: str) -> None:
    assert way_in(email) == stored


def test_a_refused_bootstrap_address_stops_the_loader_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARTSLOT_JWT_SECRET", SECRET)
    monkeypatch.setenv("SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL", "admin@smartslot.test")
    with pytest.raises(SystemExit) as stopped:
        load_or_exit(GatewaySettings)
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gateway: invalid settings (SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL: ")
    assert "special-use or reserved name" in line


def test_no_bootstrap_address_means_no_bootstrap_admin() -> None:
    assert GatewaySettings(jwt_secret=SECRET).bootstrap_admin_email is None
