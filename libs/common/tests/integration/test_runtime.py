"""A real service process that cannot start says why in one stderr line and exits 2: no traceback to dig through."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration

JWT_SECRET = "a-test-signing-secret-of-forty-characters"
IDENTITY_KEY = "a-test-identity-key-of-forty-characters!"


def _start_gateway(**variables: str) -> subprocess.CompletedProcess[str]:
    """`python -m gateway` with only the given SmartSlot variables set; it is expected to stop on its own."""
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("SMARTSLOT_")}
    env |= {"SMARTSLOT_GATEWAY_PORT": str(free_port()), "SMARTSLOT_INTERNAL_IDENTITY_KEY": IDENTITY_KEY, **variables}
    return subprocess.run(
        [sys.executable, "-m", "gateway"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_missing_jwt_secret_stops_the_gateway_with_one_line_naming_the_variable() -> None:
    done = _start_gateway()

    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("gateway: invalid settings (SMARTSLOT_JWT_SECRET: ")
    assert "required with HS256" in line
    assert "Traceback" not in done.stderr


def test_a_database_nobody_listens_on_stops_the_gateway_with_one_line_naming_it() -> None:
    port = free_port()

    done = _start_gateway(
        SMARTSLOT_JWT_SECRET=JWT_SECRET, SMARTSLOT_DATABASE_URL=f"postgresql://postgres:hunter2@127.0.0.1:{port}/smartslot"
    )

    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"gateway: cannot reach PostgreSQL at 127.0.0.1:{port}/smartslot: ")
    assert line.endswith("start it with `make infra` (or `pg_ctlcluster <version> main start`)")
    assert "hunter2" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("service", ["gateway", "booking", "availability", "waitlist", "notifier"])
def test_a_missing_identity_key_stops_a_service_with_one_line_naming_it(service: str) -> None:
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("SMARTSLOT_")}
    env |= {f"SMARTSLOT_{service.upper()}_PORT": str(free_port()), "SMARTSLOT_JWT_SECRET": JWT_SECRET}

    done = subprocess.run([sys.executable, "-m", service], env=env, capture_output=True, text=True, timeout=60,
                          check=False)

    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"{service}: invalid settings (SMARTSLOT_INTERNAL_IDENTITY_KEY: Value error, required")
