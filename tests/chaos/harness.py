"""What every fault test shares: a whole stack of its own (with chosen servers behind TCP proxies), a small catalog
built through the gateway, a recorder of every answer with its time, and the I1-I5 checks afterwards."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from booking import invariants
from smartslot_common.api_client import Answer, ApiClient
from smartslot_common.http.identity import Caller, IdentityKey, identity_headers
from smartslot_common.testing import isolated_stack, wait_for
from smartslot_common.testing.faults import TcpProxy
from smartslot_common.testing.identity import signing_middleware
from smartslot_common.testing.processes import (
    SERVICES,
    ServiceProcess,
    ServiceStack,
    mail_sink,
    stack_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIL_SINK = REPO_ROOT / "scripts" / "mailsink.py"
UNLIMITED = {f"SMARTSLOT_GATEWAY_RATE_LIMIT_{rule}": "1000000/minute" for rule in ("USER", "IP", "AUTH", "BOOKING")}
# Every chaos stack shares one PostgreSQL (max_connections=100) with whatever else runs on the machine: other test
# runs, benchmarks, profilers, each a stack of five services. With the default pools (2..10 per process) a stack may
# grow to 50 connections, and a pool that opens a connection mid-test while PostgreSQL is full fails the request in
# hand ("too many clients already"): a 500 from booking, an email re-sent because the notifier could not record it.
# So each process opens a few connections at start-up and never more: every connection a test needs is in hand
# before the fault, and a stack takes at most about 20 of the 100.
POOL = {"SMARTSLOT_DB_POOL_MIN_SIZE": "4", "SMARTSLOT_DB_POOL_MAX_SIZE": "4"}
# Fixed pools keep a stack from failing mid-test, but PostgreSQL may still be full when a stack starts (or restarts a
# service): a service then exits at once, "too many clients already". That is the machine's load, not the fault under
# test: the harness waits for room and tries again, for this long, before it gives up.
POSTGRES_PATIENCE_SECONDS = 60.0  # within the tests' 120 s timeout
TOO_MANY_CLIENTS = "too many clients already"
# How long a service may take to start and answer /readyz. Importing a service costs a few CPU seconds; with other
# agents' suites loading both cores (load average 12 and more) that alone has taken over 30 s.
STARTUP_SECONDS = float(os.environ.get("SMARTSLOT_CHAOS_STARTUP_SECONDS", "90"))
ROOM = """SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend'"""
# The gateway's 5 s upstream deadline is for production; on a shared two-core machine a storm can queue a request
# that long with no fault at all, and the 504 would read as a 5xx outside the fault window.
PATIENT_GATEWAY = {"SMARTSLOT_GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "30"}
# Which shared server a proxy can stand in front of, by the setting that names it.
SERVER_SETTINGS = {"redis": "SMARTSLOT_REDIS_URL", "amqp": "SMARTSLOT_AMQP_URL", "postgres": "SMARTSLOT_DATABASE_URL"}


def _via(url: str, port: int) -> str:
    """`url` with its host and port replaced by the proxy's (credentials, path and query kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = {"redis": 6379, "amqp": 5672, "postgresql": 5432}.get(parts.scheme, 0)
    return parts.hostname or "127.0.0.1", parts.port or default


@dataclass
class ChaosServices(ServiceStack):
    """The five services, where some see a server through a proxy: `overrides[service]` replaces settings.

    `replicas` adds instances of a service the gateway does not route to (`{"booking-2": "booking"}`): same
    settings, servers and database, a port of their own; tests call them directly."""

    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    replicas: dict[str, str] = field(default_factory=dict)
    postgres_room: Callable[[], Awaitable[int]] | None = None  # connections PostgreSQL can still accept

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.replicas:
            self.services[name] = ServiceProcess(name, self.unused_port(), self.log_dir / f"{name}.log")

    def env_for(self, name: str) -> dict[str, str]:
        service = self.replicas.get(name, name)
        env = super().env_for(service)
        env[f"SMARTSLOT_{service.upper()}_PORT"] = str(self.services[name].port)
        return env | self.overrides.get(name, {})

    def start(self, name: str) -> None:
        service = self.services[name]
        with service.log_path.open("ab") as log:
            service.process = subprocess.Popen([sys.executable, "-m", self.replicas.get(name, name)],
                                               env=self.env_for(name), stdout=log, stderr=subprocess.STDOUT)

    def names(self) -> list[str]:
        return [*SERVICES, *self.replicas]

    async def ready(self, name: str, timeout: float = STARTUP_SECONDS) -> None:
        """`wait_ready`; a service that could not open its pool because PostgreSQL was full is started again once
        there is room, for up to POSTGRES_PATIENCE_SECONDS (any other failure fails at once)."""
        deadline = time.monotonic() + POSTGRES_PATIENCE_SECONDS
        while True:
            try:
                await self.wait_ready(name, timeout)
                return
            except AssertionError as error:
                if TOO_MANY_CLIENTS not in str(error) or self.postgres_room is None or time.monotonic() >= deadline:
                    raise
            await self._wait_for_room(name, deadline)
            self.start(name)

    async def _wait_for_room(self, name: str, deadline: float) -> None:
        assert self.postgres_room is not None
        room, needed = self.postgres_room, int(self.env_for(name).get("SMARTSLOT_DB_POOL_MIN_SIZE", "2")) + 2

        async def room_for_it() -> bool:
            return await room() >= needed

        await wait_for(room_for_it, max(1.0, deadline - time.monotonic()), interval=0.5,
                       what=f"PostgreSQL to have room for {name}'s {needed} connections")

    def pause(self, name: str) -> None:
        """SIGSTOP: the process is frozen mid-whatever (a long GC pause, a VM stall); its sockets stay open."""
        self.signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.signal(name, signal.SIGCONT)

    def stop(self, name: str, grace: float = 10.0) -> None:
        self.resume(name)  # a paused process would not act on SIGTERM before its grace ran out
        super().stop(name, grace)

    def stop_all(self) -> None:
        for name in self.replicas:
            self.stop(name)
        super().stop_all()


@dataclass
class Recorder:
    """Every answer a test's clients got, with when it came, and the fault windows the test opened."""

    started: float = field(default_factory=time.monotonic)
    answers: list[tuple[float, int | str, Answer | None]] = field(default_factory=list)
    windows: list[list[float]] = field(default_factory=list)

    async def call(self, api: ApiClient, method: str, path: str, token: str, body: dict,
                   headers: dict[str, str] | None = None) -> Answer | None:
        """One call; a connection error is recorded by its class name instead of a status."""
        try:
            answer = await api.call(method, path, token, body, headers=headers)
        except (TimeoutError, aiohttp.ClientError) as error:
            self.answers.append((time.monotonic(), type(error).__name__, None))
            return None
        self.answers.append((time.monotonic(), answer.status, answer))
        return answer

    def fault_opens(self) -> None:
        self.windows.append([time.monotonic(), float("inf")])

    def fault_closes(self, grace: float = 0.0) -> None:
        """The fault is over; answers up to `grace` seconds later still count as inside it."""
        self.windows[-1][1] = time.monotonic() + grace

    def inside_fault(self, at: float) -> bool:
        return any(opened <= at <= closed for opened, closed in self.windows)

    def statuses(self) -> Counter:
        return Counter(status for _, status, _ in self.answers)

    def created_ids(self) -> list[str]:
        return [answer.body["id"] for _, status, answer in self.answers if status == 201 and answer is not None]

    def server_errors_outside_faults(self) -> list[tuple[float, int | str, object]]:
        return [(round(at - self.started, 3), status, answer.body if answer else None)
                for at, status, answer in self.answers
                if isinstance(status, int) and status >= 500 and not self.inside_fault(at)]


@dataclass
class Chaos:
    """One fault test's world: its services, proxies, API client, database and mail folder."""

    services: ChaosServices
    proxies: dict[str, TcpProxy]
    api: ApiClient
    database_url: str
    mail_dir: Path
    admin: str
    db: asyncpg.Connection
    session: aiohttp.ClientSession

    def direct(self, name: str) -> ApiClient:
        """A client of one service instance itself, bypassing the gateway (send `Client.identity` as headers: the
        session signs them)."""
        return ApiClient(self.session, self.services.services[name].url)

    async def restart(self, name: str) -> None:
        """Start a killed service again; wait until it is ready and the gateway routes to it again (its circuit
        breaker may have opened while the service was gone)."""
        self.services.start(name)
        await self.services.ready(name, timeout=60)

        async def routed() -> bool:
            return (await self.api.call("GET", "/v1/services", self.admin)).status == 200

        if name == "booking":
            await wait_for(routed, 30, interval=0.2, what="the gateway to route to booking again")


async def _patiently(attempt: Callable[[], Awaitable], what: str):
    """`attempt()`, again while PostgreSQL refuses connections for being full, for up to POSTGRES_PATIENCE_SECONDS."""
    deadline = time.monotonic() + POSTGRES_PATIENCE_SECONDS
    while True:
        try:
            return await attempt()
        except asyncpg.TooManyConnectionsError:
            if time.monotonic() >= deadline:
                raise AssertionError(f"PostgreSQL stayed full for {POSTGRES_PATIENCE_SECONDS}s: {what}") from None
        await asyncio.sleep(1.0)  # a retry's pause, not a synchronisation: nothing to wait on but others' load


@asynccontextmanager
async def chaos_stack(proxied: dict[str, tuple[str, ...]] | None = None, gateway_proxy: bool = False,
                      smtp_proxy: bool = False, replicas: dict[str, str] | None = None,
                      **settings: str) -> AsyncIterator[Chaos]:
    """An isolated stack; `proxied` maps a server (`redis`, `amqp`, `postgres`) to the services that reach it
    through a proxy (one proxy per server, shared by those services); `gateway_proxy` puts one in front of the
    gateway too, as `proxies["gateway"]`, for clients to call through; `smtp_proxy` one between the notifier and
    the mail sink, as `proxies["smtp"]`; `replicas` extra instances (`{"booking-2": "booking"}`, see
    `ChaosServices`). `settings` override the stack's environment (`POOL` and `PATIENT_GATEWAY` included)."""
    async with AsyncExitStack() as stack:
        isolated = await _patiently(lambda: stack.enter_async_context(isolated_stack()), "creating the run's database")
        logs = REPO_ROOT / "var" / "test-logs" / f"chaos-{isolated.run_id}"
        smtp_port, mail_dir = await stack.enter_async_context(mail_sink(MAIL_SINK, logs / "mail"))
        proxies: dict[str, TcpProxy] = {}
        if smtp_proxy:
            proxies["smtp"] = await stack.enter_async_context(TcpProxy(0, "127.0.0.1", smtp_port))
            smtp_port = proxies["smtp"].port
        admin_email, admin_password = f"admin-{isolated.run_id}@example.com", secrets.token_urlsafe(16)
        env = stack_settings(isolated.env, admin_email, admin_password, **(UNLIMITED | POOL | PATIENT_GATEWAY | {
            "SMARTSLOT_NOTIFIER_SMTP_HOST": "127.0.0.1", "SMARTSLOT_NOTIFIER_SMTP_PORT": str(smtp_port)} | settings))
        overrides: dict[str, dict[str, str]] = {}
        for server, names in (proxied or {}).items():
            setting = SERVER_SETTINGS[server]
            host, port = _target(env[setting])
            proxy = await stack.enter_async_context(TcpProxy(0, host, port))
            proxies[server] = proxy
            for name in names:
                overrides.setdefault(name, {})[setting] = _via(env[setting], proxy.port)
        # The test's own connection, opened first: it is also how the harness sees whether PostgreSQL has room.
        db = await _patiently(lambda: asyncpg.connect(isolated.database_url), "the test's own connection")
        stack.push_async_callback(db.close)

        async def postgres_room() -> int:
            return await db.fetchval(ROOM)

        services = ChaosServices(env, logs, overrides=overrides, replicas=replicas or {}, postgres_room=postgres_room)
        stack.callback(services.stop_all)
        # Runs before stop_all: a request a proxy still holds back would keep its service from stopping cleanly.
        stack.callback(lambda: [proxy.unstall() for proxy in proxies.values()])
        await services.start_all()
        gateway_url = services.services["gateway"].url
        if gateway_proxy:
            proxy = await stack.enter_async_context(TcpProxy(0, "127.0.0.1", services.services["gateway"].port))
            proxies["gateway"] = proxy
        # A call straight to a service (`Chaos.direct`) with a client's identity is signed with the stack's key,
        # as the gateway signs what it forwards; calls through the gateway carry no identity headers to sign.
        signing = signing_middleware(IdentityKey(env["SMARTSLOT_INTERNAL_IDENTITY_KEY"]))
        session = await stack.enter_async_context(aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200), timeout=aiohttp.ClientTimeout(total=30),
            middlewares=(signing,)))
        api = ApiClient(session, gateway_url)
        yield Chaos(services, proxies, api, isolated.database_url, mail_dir,
                    await api.token(admin_email, admin_password), db, session)


# --- A small world through the public API ------------------------------------------------------------------


async def _created(api: ApiClient, path: str, token: str | None, body: dict) -> dict:
    answer = await api.call("POST", path, token, body)
    assert answer.status == 201, (path, answer.status, answer.body)
    return answer.body


@dataclass(frozen=True)
class Client:
    """A registered, signed-in client: a token for the gateway, and the identity headers the gateway would forward
    for them, for tests that call one service instance directly."""

    token: str
    id: uuid.UUID
    email: str
    name: str

    @property
    def identity(self) -> dict[str, str]:
        return identity_headers(Caller(self.id, "client", self.email, self.name))


async def client_accounts(api: ApiClient, count: int) -> list[Client]:
    """`count` new clients, signed in."""

    async def one() -> Client:
        email_address, password = f"client-{secrets.token_hex(6)}@example.com", secrets.token_urlsafe(12)
        user = await _created(api, "/v1/auth/register", None,
                              {"email": email_address, "password": password, "name": "Ada"})
        return Client(await api.token(email_address, password), uuid.UUID(str(user["id"])), email_address, "Ada")

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def clients(api: ApiClient, count: int) -> list[str]:
    """`count` new clients, signed in: their tokens."""
    return [client.token for client in await client_accounts(api, count)]


async def slots(api: ApiClient, admin: str, count: int) -> list[str]:
    """A service, a clinic, a provider and `count` of their slots (one a day, on the hour): the slot ids."""
    service = await _created(api, "/v1/services", admin, {
        "name": f"Consultation {secrets.token_hex(3)}", "duration_minutes": 30, "price_cents": 5000,
        "currency": "EUR", "cancellation_policy": {"kind": "flexible"}})
    clinic = await _created(api, "/v1/clinics", admin, {"name": "Mitte", "timezone": "Europe/Berlin"})
    user = await _created(api, "/v1/admin/users", admin, {
        "email": f"dr-{secrets.token_hex(5)}@example.com", "password": secrets.token_urlsafe(12),
        "name": "Dr. Weber", "role": "provider"})
    provider = await _created(api, "/v1/providers", admin, {
        "user_id": user["id"], "clinic_id": clinic["id"], "display_name": "Dr. Weber", "service_ids": [service["id"]]})
    first = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    ids = []
    for index in range(count):
        slot = await _created(api, f"/v1/providers/{provider['id']}/slots", admin, {
            "service_id": service["id"], "starts_at": (first + timedelta(hours=index)).isoformat()})
        ids.append(str(slot["id"]))
    return ids


# --- The invariants ----------------------------------------------------------------------------------------

async def assert_no_double_booking_and_no_lost_answer(chaos: Chaos, recorder: Recorder) -> None:
    """I1 and I2 (every 201 is in the database), and I5 (no 5xx outside a fault window)."""
    # A replayed answer (the same Idempotency-Key) names the appointment a first answer did: counted once.
    violations = {
        "I2_answered_but_missing": await invariants.answered_but_missing(chaos.db, recorder.created_ids()),
        "I1_live_over_capacity": await invariants.live_over_capacity(chaos.db),
    } | await invariants.check(chaos.db)
    assert set(violations.values()) == {0}, violations
    assert recorder.server_errors_outside_faults() == [], recorder.server_errors_outside_faults()


def emails_by_appointment(mail_dir: Path, distinct: bool = False) -> Counter:
    """How many messages the sink holds per appointment (`distinct`: how many different Message-IDs)."""
    seen: set[tuple[str, str]] = set()
    counts: Counter = Counter()
    for path in mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        appointment = message["X-SmartSlot-Appointment-Id"]
        if not appointment:
            continue
        if distinct and (str(appointment), str(message["Message-ID"])) in seen:
            continue
        seen.add((str(appointment), str(message["Message-ID"])))
        counts[str(appointment)] += 1
    return counts


async def assert_each_confirmation_published_and_emailed_once(chaos: Chaos, confirmed: list[str],
                                                              timeout: float = 60,
                                                              resent_same_message: bool = False) -> None:
    """I3: one `appointment.confirmed` outbox row per confirmation, published; one email delivery and one message
    in the sink per confirmation, and none for anything else. `resent_same_message` accepts a message sent twice
    with the same Message-ID (SMTP accepted it, the sender died before recording that) as one email."""
    ids = [uuid.UUID(value) for value in confirmed]

    async def published() -> bool:
        return await chaos.db.fetchval(
            "SELECT count(*) FROM booking.outbox WHERE event_type = 'appointment.confirmed' "
            "AND published_at IS NOT NULL") >= len(ids)

    await wait_for(published, timeout, interval=0.2, what="every confirmation to be published")
    rows = await chaos.db.fetch(
        "SELECT (envelope->'payload'->>'appointment_id')::uuid AS id, count(*) AS events, "
        "count(published_at) AS published FROM booking.outbox WHERE event_type = 'appointment.confirmed' GROUP BY 1")
    events = {row["id"]: (row["events"], row["published"]) for row in rows}
    assert events == dict.fromkeys(ids, (1, 1)), events

    async def mailed() -> bool:
        return sum(emails_by_appointment(chaos.mail_dir).values()) >= len(ids)

    await wait_for(mailed, timeout, interval=0.2, what="every confirmation to be emailed")

    async def deliveries() -> dict:
        rows = await chaos.db.fetch(
            "SELECT appointment_id, count(*) AS n, count(*) FILTER (WHERE status = 'sent') AS sent "
            "FROM notifier.deliveries WHERE channel = 'email' GROUP BY 1")
        return {row["appointment_id"]: (row["n"], row["sent"]) for row in rows}

    async def recorded() -> bool:
        # The sink saves a message before it answers 250, and the notifier marks the delivery sent only after that
        # answer: right after the last message shows up its row may still be `pending` for a moment.
        return all(sent == n for n, sent in (await deliveries()).values())

    await wait_for(recorded, timeout, interval=0.2, what="every email delivery to be recorded as sent")
    assert await deliveries() == dict.fromkeys(ids, (1, 1)), await deliveries()
    assert emails_by_appointment(chaos.mail_dir, distinct=resent_same_message) == Counter(
        dict.fromkeys(confirmed, 1)), emails_by_appointment(chaos.mail_dir)


async def gather_all(*calls: Awaitable) -> list:
    return list(await asyncio.gather(*calls))
