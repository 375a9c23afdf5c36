"""The stack a benchmark runs against: its own isolated servers and service processes, like the e2e tests."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import aiohttp

from bench.driver import raise_open_files_limit
from bench.profiling.meter import CpuMeter
from smartslot_common.api_client import ApiClient
from smartslot_common.http.identity import SIGNATURE_HEADER, IdentityKey
from smartslot_common.http.lean_client import LeanClient
from smartslot_common.testing import isolated_stack
from smartslot_common.testing.processes import ServiceStack, mail_sink, running_services, stack_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_SETTINGS = {
    "SMARTSLOT_LOG_LEVEL": "WARNING",  # one log line per request would measure the logger, not the booking
    # Per service: five of them (and the bench's own connections) must fit well under PostgreSQL's max_connections
    # (100 by default), which concurrent test runs on the same server share; at 20 each a run failed with "too many
    # clients already". Ten is every service's default and plenty for two cores.
    "SMARTSLOT_DB_POOL_MAX_SIZE": "10",
    # The admin token is issued once per run, and `make bench-full` outlasts the default 15 minutes.
    "SMARTSLOT_ACCESS_TOKEN_TTL_SECONDS": "86400",
}


@dataclass
class BenchEnvironment:
    """URLs, database and credentials of the stack under load; `client` sends the load (lean, keep-alive), `session`
    and `api` serve set-up and checks; `meter` takes the CPU snapshots around each scenario's load."""

    processes: ServiceStack
    database_url: str
    session: aiohttp.ClientSession
    admin_token: str
    mail_dir: Path
    client: LeanClient
    meter: CpuMeter

    def url(self, service: str) -> str:
        return self.processes.services[service].url

    @property
    def api(self) -> ApiClient:
        return ApiClient(self.session, self.url("gateway"))

    @cached_property
    def _identity_key(self) -> IdentityKey:
        return IdentityKey(self.processes.base_env["SMARTSLOT_INTERNAL_IDENTITY_KEY"])

    def signed(self, method: str, path: str, headers: dict[str, str]) -> dict[str, str]:
        """`headers` with the identity in them signed for this call, as the stack's gateway signs what it forwards
        (for calls straight to a service)."""
        return headers | {SIGNATURE_HEADER: self._identity_key.signature(method, path, headers)}


@asynccontextmanager
async def bench_environment(**extra_env: str) -> AsyncIterator[BenchEnvironment]:
    """An isolated stack for one benchmark run, torn down afterwards."""
    raise_open_files_limit()  # before the services start: they inherit it, and a storm needs a socket per client
    async with isolated_stack() as stack:
        admin, password = f"bench-admin-{stack.run_id}@example.com", secrets.token_urlsafe(16)
        log_dir = REPO_ROOT / "var" / "bench-logs" / stack.run_id
        async with mail_sink(REPO_ROOT / "scripts" / "mailsink.py", log_dir / "mail") as (smtp_port, mail_dir):
            env = stack_settings(stack.env, admin, password, **BENCH_SETTINGS, **extra_env,
                                 SMARTSLOT_NOTIFIER_SMTP_HOST="127.0.0.1", SMARTSLOT_NOTIFIER_SMTP_PORT=str(smtp_port))
            connector = aiohttp.TCPConnector(limit=0, force_close=False)
            async with running_services(env, log_dir) as processes, aiohttp.ClientSession(
                connector=connector
            ) as session, LeanClient() as client:
                token = await ApiClient(session, processes.services["gateway"].url).token(admin, password)
                meter = CpuMeter(_service_pids(processes), stack.database_url.rsplit("/", 1)[-1])
                yield BenchEnvironment(processes, stack.database_url, session, token, mail_dir, client, meter)


def _service_pids(processes: ServiceStack) -> dict[int, str]:
    """pid → service name, for the stack's own processes."""
    return {service.process.pid: name for name, service in processes.services.items() if service.process}
