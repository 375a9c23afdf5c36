"""`smartslot-migrate` as an operator runs it: what it prints, and its exit codes."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from smartslot_common.migrations.cli import main
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """An empty database of the test's own, dropped afterwards."""
    name = f"smartslot_cli_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _run(*argv: str) -> int:
    # main() runs its own event loop, as the command does; a thread keeps it off the tests' loop.
    return await asyncio.to_thread(main, list(argv))


async def test_it_brings_each_service_up_to_date_and_then_says_so(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run("gateway", "booking", "--database-url", database_url) == 0
    first = capsys.readouterr().out.splitlines()

    assert await _run("gateway", "booking", "--database-url", database_url) == 0
    second = capsys.readouterr().out.splitlines()

    assert first[0] == "gateway (schema identity): applied 0001_users.sql"
    assert first[1].startswith(
        "booking (schema booking): applied common.outbox.0001_outbox.sql, common.outbox.0002_outbox_published.sql, "
        "common.outbox.0003_outbox_notify_others_only.sql, 0001_"
    )
    assert second == ["gateway (schema identity): up to date", "booking (schema booking): up to date"]


async def test_a_failing_migration_exits_1_with_one_line_naming_the_file(
    database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = f"svc_{uuid.uuid4().hex[:10]}"
    (tmp_path / service / "migrations").mkdir(parents=True)
    (tmp_path / service / "__init__.py").write_text("")
    (tmp_path / service / "migrations" / "__init__.py").write_text('SCHEMA = "demo"\n')
    (tmp_path / service / "migrations" / "0001_broken.sql").write_text("SELECT 1/0;")
    monkeypatch.syspath_prepend(str(tmp_path))

    try:
        assert await _run(service, "--database-url", database_url) == 1
    finally:
        for module in (service, f"{service}.migrations"):
            sys.modules.pop(module, None)

    (line,) = capsys.readouterr().err.splitlines()
    assert line == "smartslot-migrate: demo/0001_broken.sql failed: division by zero"


async def test_an_unknown_service_exits_1_with_one_line(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run("no_such_service", "--database-url", database_url) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert "no migrations package 'no_such_service.migrations'" in line


def test_an_unreachable_server_exits_2_with_one_line_naming_postgresql_and_how_to_start_it() -> None:
    port = free_port()
    env = {**os.environ, "SMARTSLOT_DATABASE_URL": f"postgresql://postgres:hunter2@127.0.0.1:{port}/smartslot"}

    done = subprocess.run(
        [sys.executable, "-m", "smartslot_common.migrations", "gateway"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )

    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"smartslot-migrate: cannot reach PostgreSQL at 127.0.0.1:{port}/smartslot: ")
    assert "make infra" in line
    assert "hunter2" not in line
    assert "Traceback" not in done.stderr
