"""Whole-stack fixtures: the five services as real processes on this run's isolated servers, or, with
`SMARTSLOT_E2E_BASE_URL` set, a stack already running (e.g. `make run`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from smartslot_common.api_client import ApiClient
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.processes import ServiceStack, mail_sink, running_services, stack_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIL_SINK = REPO_ROOT / "scripts" / "mailsink.py"


@dataclass
class RunningStack:
    """What a whole-stack test talks to: the gateway, the database behind it, and the admin's credentials."""

    base_url: str
    database_url: str
    admin_email: str
    admin_password: str
    processes: ServiceStack | None
    jwt_secret: str | None = None  # known when the tests started the stack: the JWT attack tests sign with it
    mail_dir: Path | None = None  # where the stack's SMTP sink saves every message it accepts (.eml)


# Whole-stack tests are not meant to meet a rate limit (the gateway's own tests cover 429s).
UNLIMITED = {f"SMARTSLOT_GATEWAY_RATE_LIMIT_{rule}": "1000000/minute" for rule in ("USER", "IP", "AUTH", "BOOKING")}


@pytest.fixture(scope="session")
async def running_stack(stack: IsolatedStack) -> AsyncIterator[RunningStack]:
    """The stack under test, ready on every `/readyz`."""
    external = os.environ.get("SMARTSLOT_E2E_BASE_URL")
    if external:
        yield RunningStack(
            external,
            os.environ.get("SMARTSLOT_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/smartslot"),
            os.environ.get("SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL", "admin@example.com"),
            os.environ.get("SMARTSLOT_BOOTSTRAP_ADMIN_PASSWORD", "smartslot-admin"),
            None,
            os.environ.get("SMARTSLOT_JWT_SECRET"),
        )
        return
    admin_email, admin_password = f"admin-{stack.run_id}@example.com", secrets.token_urlsafe(16)
    logs = REPO_ROOT / "var" / "test-logs" / stack.run_id
    async with mail_sink(MAIL_SINK, logs / "mail") as (smtp_port, mail_dir):
        env = stack_settings(stack.env, admin_email, admin_password, **UNLIMITED,
                             SMARTSLOT_NOTIFIER_SMTP_HOST="127.0.0.1", SMARTSLOT_NOTIFIER_SMTP_PORT=str(smtp_port))
        async with running_services(env, logs) as processes:
            yield RunningStack(processes.services["gateway"].url, stack.database_url, admin_email, admin_password,
                               processes, env["SMARTSLOT_JWT_SECRET"], mail_dir)


@pytest.fixture(scope="session")
async def api(running_stack: RunningStack) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(session, running_stack.base_url)


@pytest.fixture(scope="session")
async def db(running_stack: RunningStack) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the stack's primary database, for checking what the API claimed."""
    connection = await asyncpg.connect(running_stack.database_url)
    yield connection
    await connection.close()


@pytest.fixture(scope="session")
async def admin_token(api: ApiClient, running_stack: RunningStack) -> str:
    return await api.token(running_stack.admin_email, running_stack.admin_password)
