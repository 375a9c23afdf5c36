"""The restore drill (`make restore-drill`): back PostgreSQL up while bookings are made, restore it to a point in
time in a new cluster, and check the restored data.

    .venv/bin/python scripts/restore_drill.py [--target name|time] [--backup-rate 8M] [--keep]

The machine's own PostgreSQL (and its replica) are shared and never touched: the drill makes a scratch primary of
its own with the machine's PostgreSQL binaries (SMARTSLOT_PG_BINDIR, else `pg_config --bindir`, else
/usr/lib/postgresql/*/bin, else initdb on PATH), in a temporary directory, on a free port, run as the `postgres`
user when the drill runs as root, with `archive_mode = on` and an `archive_command` that copies each WAL segment into
the drill's archive. Booking's and the gateway's schemas are migrated into it by the project's migration runner, a
real booking service and gateway run against it (with the machine's Redis and RabbitMQ, under a key prefix and a
vhost of the drill's own), and then:

1. clients book through the public API, two racing for each slot, while `pg_basebackup` copies the primary;
2. with every answer in hand, a named restore point (`pg_create_restore_point`) is the target, and its time noted;
3. more bookings, and cancellations of bookings made before the target: none of these may survive the restore;
4. the primary's last WAL segment is archived (`pg_switch_wal`), and the primary stopped, as if lost;
5. the base backup is copied into a new data directory and started on another port with `restore_command` and
   `recovery_target_name` (or `recovery_target_time` with --target time): it replays the archive up to the target
   and is promoted;
6. on the restored data every booking answered 201 before the target is there (and nothing else), none made after it
   is, the cancellations after it are undone, and booking's invariant checker counts no violation.

Everything the drill made (processes, directories, vhost, keys) is removed afterwards, also when a step fails; with
--keep the directory (logs, backup, archive, both data directories) stays. Exit status 0 when every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import asyncpg
import orjson
import redis.asyncio as aioredis

from booking.invariants import check as check_invariants
from smartslot_common.api_client import Answer, ApiClient
from smartslot_common.testing.processes import ServiceStack, service_port, stack_settings
from smartslot_common.testing.waiting import wait_for

DATABASE = "smartslot_drill"
SCHEMAS = ("booking", "gateway")  # the services whose schemas the drill's stack needs, as `make migrate` names them
SERVICES = ("booking", "gateway")
PG_TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "pg_verifybackup")
# The drill's clients book through the gateway as fast as they can: no rate limit should answer for the database.
UNLIMITED = {f"SMARTSLOT_GATEWAY_RATE_LIMIT_{rule}": "1000000/minute" for rule in ("USER", "IP", "AUTH", "BOOKING")}
STACK = UNLIMITED | {
    "SMARTSLOT_DB_POOL_MIN_SIZE": "2", "SMARTSLOT_DB_POOL_MAX_SIZE": "4",
    # On a shared two-core machine a request may queue longer than the production upstream deadline of 5 s.
    "SMARTSLOT_GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "30",
}
# Importing a service costs CPU seconds; with other suites loading both cores starting one has taken over 30 s.
STARTUP_SECONDS = float(os.environ.get("SMARTSLOT_DRILL_STARTUP_SECONDS", "120"))
WORKERS = 4  # slots booked at once, each by two racing clients
CLIENTS = 6


class DrillFailed(Exception):
    """A step failed or a check did not hold; the message says which and what was seen."""


@dataclass(frozen=True)
class Options:
    """What the command line may change."""

    target: str = "name"  # recover to the named restore point, or to the time it was taken
    backup_rate: str = "8M"  # pg_basebackup --max-rate: the backup lasts a few seconds, so bookings overlap it
    after_bookings: int = 8
    after_cancellations: int = 2
    keep: bool = False


@dataclass(frozen=True)
class Booking:
    """One answered booking request: who asked for which slot, the answer, and when (monotonic seconds)."""

    slot_id: str
    token: str
    status: int
    appointment_id: str | None
    code: str | None
    sent: float
    answered: float


@dataclass
class Report:
    """What the drill did and saw: the summary it prints, and what the pytest asserts."""

    booked_before: set[str] = field(default_factory=set)
    booked_during_backup: int = 0
    races_lost: int = 0
    booked_after: set[str] = field(default_factory=set)
    cancelled_after: set[str] = field(default_factory=set)
    restored: set[str] = field(default_factory=set)
    restored_confirmed: set[str] = field(default_factory=set)
    invariants: dict[str, int] = field(default_factory=dict)
    target: str = ""
    backup_seconds: float = 0.0
    backup_bytes: int = 0
    archived_segments: int = 0
    restore_seconds: float = 0.0
    total_seconds: float = 0.0
    workdir: Path = Path()  # removed at the end unless --keep


class Steps:
    """Prints each step with the time since the drill began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)


# --- PostgreSQL: the binaries, the OS user, one cluster ----------------------------------------------------------


def postgres_bindir() -> Path:
    """The directory of the machine's PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup, ...)."""
    candidates: list[Path] = []
    if named := os.environ.get("SMARTSLOT_PG_BINDIR"):
        candidates.append(Path(named))
    if pg_config := shutil.which("pg_config"):
        answer = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if answer.returncode == 0:
            candidates.append(Path(answer.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
                         reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for candidate in candidates:
        if all((candidate / tool).is_file() for tool in PG_TOOLS):
            return candidate
    raise DrillFailed(f"no PostgreSQL server binaries ({', '.join(PG_TOOLS)}) found: set SMARTSLOT_PG_BINDIR")


@dataclass(frozen=True)
class OsUser:
    """Who runs PostgreSQL's programs: this process's user, or `postgres` when that is root (initdb refuses root)."""

    uid: int
    gid: int

    @classmethod
    def for_postgres(cls) -> OsUser:
        if os.geteuid() != 0:
            return cls(os.getuid(), os.getgid())
        name = os.environ.get("SMARTSLOT_DRILL_OS_USER", "postgres")
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise DrillFailed(f"running as root, and there is no '{name}' user to run PostgreSQL as") from None
        return cls(entry.pw_uid, entry.pw_gid)

    def subprocess_options(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)


def conf_string(value: str) -> str:
    """A postgresql.conf string literal."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Cluster:
    """A PostgreSQL cluster of the drill's own: its data directory, port and log."""

    name: str
    data: Path
    port: int
    tools: Path
    user: OsUser
    workdir: Path  # holds its socket, its log, the archive
    running: bool = False

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def configure(self, settings: dict[str, str]) -> None:
        """Append settings to postgresql.conf (a later line wins over an earlier one)."""
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# restore drill: {self.name}\n{lines}")

    async def start(self) -> None:
        await run_tool(self.user, self.tools / "pg_ctl", "start", "-w", "-t", "300", "-D", str(self.data),
                       "-l", str(self.log), what=f"starting {self.name}", log=self.log)
        self.running = True

    async def stop(self, mode: str = "fast") -> None:
        if not self.running:
            return
        await run_tool(self.user, self.tools / "pg_ctl", "stop", "-w", "-t", "120", "-m", mode, "-D", str(self.data),
                       what=f"stopping {self.name}")
        self.running = False

    async def stop_quietly(self) -> None:
        """Cleanup: stop it however it can be stopped, never raising."""
        for mode in ("fast", "immediate"):
            try:
                await self.stop(mode)
                return
            except (DrillFailed, OSError):
                continue

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)


async def run_tool(user: OsUser, program: Path | str, *args: str, what: str, timeout: float = 300,
                   log: Path | None = None) -> str:
    """Run one program as `user`; its output, or DrillFailed with the output (and `log`'s tail) when it fails."""
    process = await asyncio.create_subprocess_exec(
        str(program), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd="/", **user.subprocess_options(),
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise DrillFailed(f"{what}: no answer after {timeout:.0f} s") from None
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise DrillFailed(f"{what} failed (exit {process.returncode}):\n{text}{tail(log) if log else ''}")
    return text


def tail(log: Path, lines: int = 25) -> str:
    """The last lines of a log file (nothing when there is none)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


# --- The booking stack's own slice of Redis and RabbitMQ ---------------------------------------------------------


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


async def rabbitmqctl(*args: str) -> None:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        raise DrillFailed("rabbitmqctl is not on PATH: the drill needs the local RabbitMQ (make infra)")
    await run_tool(OsUser(os.getuid(), os.getgid()), tool, "-q", *args, what=f"rabbitmqctl {args[0]}", timeout=120)


async def own_vhost(cleanup: AsyncExitStack, name: str) -> str:
    """A RabbitMQ vhost of the drill's own (deleted at cleanup): the AMQP URL that reaches it."""
    await rabbitmqctl("add_vhost", name)
    cleanup.push_async_callback(_quietly, rabbitmqctl("delete_vhost", name))
    await rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    amqp = os.environ.get("SMARTSLOT_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    return _with_path(amqp, "/" + quote(name, safe=""))


async def delete_keys(redis_url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=500):
            await client.delete(key)
    finally:
        await client.aclose()


async def _quietly(action: Awaitable[object]) -> None:
    try:
        await action
    except Exception as error:  # cleanup goes on with the next removal; say what is left
        print(f"cleanup: {error}", file=sys.stderr)


# --- Bookings through the public API -----------------------------------------------------------------------------


async def created(api: ApiClient, path: str, token: str | None, body: dict[str, Any]) -> dict[str, Any]:
    answer = await api.call("POST", path, token, body)
    if answer.status != 201:
        raise DrillFailed(f"POST {path} answered {answer.status}: {answer.body}")
    result: dict[str, Any] = answer.body
    return result


async def make_clients(api: ApiClient, count: int) -> list[str]:
    """`count` new clients, signed in: their tokens."""

    async def one() -> str:
        email, password = f"client-{secrets.token_hex(6)}@example.com", secrets.token_urlsafe(12)
        await created(api, "/v1/auth/register", None, {"email": email, "password": password, "name": "Ada"})
        return await api.token(email, password)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def make_slots(api: ApiClient, admin: str, count: int) -> list[str]:
    """A service, a clinic, a provider and `count` slots of theirs, one an hour from two days ahead: slot ids."""
    service = await created(api, "/v1/services", admin, {
        "name": "Drill consultation", "duration_minutes": 30, "price_cents": 5000, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"}})
    clinic = await created(api, "/v1/clinics", admin, {"name": "Drill clinic", "timezone": "Europe/Berlin"})
    user = await created(api, "/v1/admin/users", admin, {
        "email": f"dr-{secrets.token_hex(5)}@example.com", "password": secrets.token_urlsafe(12),
        "name": "Dr. Weber", "role": "provider"})
    provider = await created(api, "/v1/providers", admin, {
        "user_id": user["id"], "clinic_id": clinic["id"], "display_name": "Dr. Weber", "service_ids": [service["id"]]})
    first = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    gate = asyncio.Semaphore(WORKERS)

    async def slot(index: int) -> str:
        async with gate:
            body = {"service_id": service["id"], "starts_at": (first + timedelta(hours=index)).isoformat()}
            return str((await created(api, f"/v1/providers/{provider['id']}/slots", admin, body))["id"])

    return list(await asyncio.gather(*(slot(index) for index in range(count))))


async def book(api: ApiClient, slot_id: str, token: str) -> Booking:
    """An instant booking (hold and confirm in one request)."""
    sent = time.monotonic()
    answer: Answer = await api.call("POST", "/v1/appointments", token, {"slot_id": slot_id})
    body = answer.body if isinstance(answer.body, dict) else {}
    appointment = str(body["id"]) if answer.status == 201 and "id" in body else None
    return Booking(slot_id, token, answer.status, appointment, answer.code, sent, time.monotonic())


async def race(api: ApiClient, slot_id: str, tokens: Sequence[str]) -> list[Booking]:
    """Two clients book one slot at once: one 201, one 409 (I1); anything else fails the drill (I5)."""
    first, second = secrets.SystemRandom().sample(list(tokens), 2)
    answers = list(await asyncio.gather(book(api, slot_id, first), book(api, slot_id, second)))
    if sorted(answer.status for answer in answers) != [201, 409]:
        raise DrillFailed(f"slot {slot_id}: two clients racing were answered "
                          f"{[(answer.status, answer.code) for answer in answers]}, not one 201 and one 409")
    return answers


async def book_until(api: ApiClient, slots: list[str], tokens: Sequence[str],
                     done: Callable[[], bool]) -> list[Booking]:
    """WORKERS at a time, race clients for the next free slot until `done()` (or the slots run out)."""
    answers: list[Booking] = []

    async def worker() -> None:
        while slots and not done():
            answers.extend(await race(api, slots.pop(0), tokens))

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return answers


# --- The drill ---------------------------------------------------------------------------------------------------


def new_workdir(user: OsUser) -> Path:
    """A temporary directory for both clusters, the backup, the archive and the logs, owned by `user`."""
    workdir = Path(tempfile.mkdtemp(prefix="smartslot-restore-drill-"))
    user.own(workdir)
    (workdir / "archive").mkdir()
    user.own(workdir / "archive")
    (workdir / "logs").mkdir()
    return workdir


async def make_primary(cleanup: AsyncExitStack, tools: Path, user: OsUser, workdir: Path, step: Steps) -> Cluster:
    """initdb, configured to archive every WAL segment into workdir/archive, and started."""
    primary = Cluster("primary", workdir / "primary", service_port(), tools, user, workdir)
    step(f"initdb: a scratch primary in {primary.data} ({tools})")
    await run_tool(user, tools / "initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--no-locale", "--no-sync", what="initdb")
    archive = shlex.quote(str(workdir / "archive"))
    primary.configure({
        "port": str(primary.port), "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": conf_string(str(workdir)), "wal_level": "replica", "max_wal_senders": "4",
        "max_connections": "50", "shared_buffers": "'32MB'", "archive_mode": "on",
        # Never overwrite a segment already archived (a second primary writing to the same archive would).
        "archive_command": conf_string(f"test ! -f {archive}/%f && cp %p {archive}/%f"),
    })
    step(f"starting the primary on port {primary.port} (archive_mode = on, archive_command copies to {archive})")
    cleanup.push_async_callback(primary.stop_quietly)
    await primary.start()
    return primary


async def migrate(primary: Cluster, step: Steps) -> None:
    connection = await asyncpg.connect(primary.url())
    try:
        await connection.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await connection.close()
    step(f"migrating {', '.join(SCHEMAS)} into database {DATABASE} (smartslot-migrate, as make migrate does)")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartslot_common.migrations", *SCHEMAS, "--database-url", primary.url(DATABASE),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise DrillFailed(f"migrations failed:\n{output.decode(errors='replace')}")


@dataclass(frozen=True)
class Stack:
    """The running booking service and gateway, a client of the gateway, and the admin's token."""

    services: ServiceStack
    api: ApiClient
    admin: str


async def start_stack(cleanup: AsyncExitStack, primary: Cluster, step: Steps) -> Stack:
    """Booking and the gateway against the primary, with a vhost and key prefix of their own."""
    run_id = secrets.token_hex(4)
    redis_url = os.environ.get("SMARTSLOT_REDIS_URL", "redis://127.0.0.1:6379/0")
    namespace = f"drill{run_id}."
    amqp_url = await own_vhost(cleanup, f"smartslot_drill_{run_id}")
    cleanup.push_async_callback(_quietly, delete_keys(redis_url, namespace))
    admin_email, admin_password = f"admin-{run_id}@example.com", secrets.token_urlsafe(16)
    env = stack_settings({
        "SMARTSLOT_DATABASE_URL": primary.url(DATABASE), "SMARTSLOT_REDIS_URL": redis_url,
        "SMARTSLOT_AMQP_URL": amqp_url, "SMARTSLOT_NAMESPACE": namespace,
    }, admin_email, admin_password, **STACK)
    services = ServiceStack(env, primary.workdir / "logs")
    cleanup.callback(services.stop_all)
    step(f"starting booking and the gateway (Redis prefix {namespace}, vhost smartslot_drill_{run_id})")
    for name in SERVICES:
        services.start(name)
    for name in SERVICES:
        await services.wait_ready(name, STARTUP_SECONDS)
    session = await cleanup.enter_async_context(aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=50), timeout=aiohttp.ClientTimeout(total=60)))
    api = ApiClient(session, services.services["gateway"].url)
    return Stack(services, api, await api.token(admin_email, admin_password))


async def base_backup(primary: Cluster, options: Options) -> Path:
    """pg_basebackup (plain format, the WAL it needs streamed alongside), checked by pg_verifybackup."""
    backup = primary.workdir / "base"
    await run_tool(primary.user, primary.tools / "pg_basebackup", "-d", primary.url(), "-D", str(backup),
                   "-Fp", "-X", "stream", "-c", "fast", "-l", "restore drill", f"--max-rate={options.backup_rate}",
                   what="pg_basebackup")
    await run_tool(primary.user, primary.tools / "pg_verifybackup", str(backup), what="pg_verifybackup")
    return backup


@dataclass(frozen=True)
class Before:
    """What happened before the target: the base backup, every answer, and what is left for after it."""

    backup: Path
    answers: list[Booking]
    tokens: list[str]
    slots_for_after: list[str]


async def bookings_during_backup(stack: Stack, primary: Cluster, options: Options, report: Report,
                                 step: Steps) -> Before:
    tokens = await make_clients(stack.api, CLIENTS)
    slots = await make_slots(stack.api, stack.admin, 400 + options.after_bookings)
    slots_for_after = [slots.pop() for _ in range(options.after_bookings)]
    step(f"{CLIENTS} clients and {len(slots) + len(slots_for_after)} slots made; booking (two clients race for "
         f"each slot, {WORKERS} slots at a time) while pg_basebackup --max-rate={options.backup_rate} runs")
    backup_task = asyncio.create_task(base_backup(primary, options))
    backup_started = time.monotonic()
    try:
        answers = await book_until(stack.api, slots, tokens, backup_task.done)
        backup = await backup_task
    finally:
        if not backup_task.done():
            backup_task.cancel()
    backup_ended = time.monotonic()
    report.backup_seconds = backup_ended - backup_started
    report.backup_bytes = sum(path.stat().st_size for path in backup.rglob("*") if path.is_file())
    # A few more once the backup is done: the archive alone must carry these to the restored cluster.
    answers += await book_until(stack.api, slots[:WORKERS * 2], tokens, lambda: False)
    report.booked_before = {answer.appointment_id for answer in answers if answer.appointment_id}
    report.races_lost = sum(1 for answer in answers if answer.status == 409)
    report.booked_during_backup = sum(
        1 for answer in answers if answer.appointment_id and answer.sent >= backup_started
        and answer.answered <= backup_ended)
    step(f"base backup done in {report.backup_seconds:.1f} s ({report.backup_bytes / 1e6:.1f} MB, verified by "
         f"pg_verifybackup); {len(report.booked_before)} bookings answered 201, {report.booked_during_backup} of "
         f"them entirely during the backup; {report.races_lost} racing requests answered 409")
    if report.booked_during_backup == 0:
        raise DrillFailed("no booking was answered while the base backup ran: give --backup-rate a lower limit")
    return Before(backup, answers, tokens, slots_for_after)


async def mark_target(primary: Cluster, options: Options, report: Report, step: Steps) -> dict[str, str]:
    """The restore point: every answer before it is in hand, none after it is asked yet. The recovery settings."""
    name = f"drill-{secrets.token_hex(4)}"
    connection = await asyncpg.connect(primary.url())
    try:
        await connection.execute("SELECT pg_create_restore_point($1)", name)
        at: datetime = await connection.fetchval("SELECT clock_timestamp()")
    finally:
        await connection.close()
    target = {"recovery_target_time": at.isoformat()} if options.target == "time" else {"recovery_target_name": name}
    report.target = ", ".join(f"{key} = '{value}'" for key, value in target.items()) + \
        f" (restore point '{name}' made at {at.isoformat()})"
    step(f"target: {report.target}")
    return {key: conf_string(value) for key, value in target.items()}


async def changes_after_target(stack: Stack, before: Before, options: Options, report: Report,
                               step: Steps) -> None:
    after = await book_until(stack.api, list(before.slots_for_after), before.tokens, lambda: False)
    report.booked_after = {answer.appointment_id for answer in after if answer.appointment_id}
    made = [answer for answer in before.answers if answer.appointment_id][:options.after_cancellations]
    for answer in made:
        cancel = await stack.api.call("POST", f"/v1/appointments/{answer.appointment_id}/cancel", answer.token,
                                      {"reason": "restore drill: after the target"})
        if cancel.status != 200:
            raise DrillFailed(f"cancelling {answer.appointment_id} answered {cancel.status}: {cancel.body}")
        report.cancelled_after.add(str(answer.appointment_id))
    step(f"after the target: {len(report.booked_after)} more bookings answered 201, "
         f"{len(report.cancelled_after)} earlier bookings cancelled (none of this may survive the restore)")


async def archive_and_lose_primary(stack: Stack, primary: Cluster, report: Report, step: Steps) -> None:
    """Switch to a new WAL segment, wait until the archiver copied the last one; stop the services and the primary."""
    connection = await asyncpg.connect(primary.url())
    try:
        segment: str = await connection.fetchval("SELECT pg_walfile_name(pg_switch_wal())")

        async def archived() -> bool:
            row = await connection.fetchrow("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver")
            assert row is not None
            if row["last_failed_wal"] is not None and row["last_archived_wal"] is None:
                raise DrillFailed(f"archive_command fails (last failed {row['last_failed_wal']}):\n"
                                  f"{primary.log_tail()}")
            return row["last_archived_wal"] is not None and str(row["last_archived_wal"]) >= segment

        await wait_for(archived, 120, interval=0.2, what=f"WAL segment {segment} to be archived")
    finally:
        await connection.close()
    report.archived_segments = sum(1 for path in (primary.workdir / "archive").iterdir() if len(path.name) == 24)
    step(f"WAL archived up to {segment} ({report.archived_segments} segments); stopping the services and the "
         "primary, as if lost")
    stack.services.stop_all()
    await primary.stop()


async def restore(cleanup: AsyncExitStack, backup: Path, primary: Cluster, target: dict[str, str],
                  step: Steps) -> Cluster:
    """The base backup in a new data directory, recovered from the archive to the target and promoted."""
    workdir = primary.workdir
    restored = Cluster("restored", workdir / "restored", service_port(), primary.tools, primary.user, workdir)
    step(f"restoring: base backup copied to {restored.data}, recovering to the target on port {restored.port}")
    await run_tool(primary.user, "cp", "-a", str(backup), str(restored.data), what="copying the base backup")
    archive = shlex.quote(str(workdir / "archive"))
    restored.configure({
        "port": str(restored.port), "archive_mode": "off",
        "restore_command": conf_string(f"cp {archive}/%f %p"), **target,
        "recovery_target_action": "'promote'",
    })
    signal_file = restored.data / "recovery.signal"
    signal_file.touch()
    primary.user.own(signal_file)
    cleanup.push_async_callback(restored.stop_quietly)
    await restored.start()

    async def promoted() -> bool:
        connection = await asyncpg.connect(restored.url())
        try:
            return not await connection.fetchval("SELECT pg_is_in_recovery()")
        finally:
            await connection.close()

    await wait_for(promoted, 300, interval=0.2, what="the restored cluster to reach the target and be promoted")
    return restored


async def check_restored(restored: Cluster, report: Report, step: Steps) -> None:
    connection = await asyncpg.connect(restored.url(DATABASE))
    try:
        rows = await connection.fetch("SELECT id::text, status FROM booking.appointments")
        report.invariants = await check_invariants(connection)
    finally:
        await connection.close()
    report.restored = {row["id"] for row in rows}
    report.restored_confirmed = {row["id"] for row in rows if row["status"] == "confirmed"}
    counts = orjson.dumps(report.invariants).decode()
    step(f"restored: {len(report.restored)} appointments; invariant checker: {counts}")
    failures = []
    if missing := report.booked_before - report.restored:
        failures.append(f"{len(missing)} bookings answered 201 before the target are missing: {sorted(missing)[:5]}")
    if phantom := report.restored - report.booked_before:
        failures.append(f"{len(phantom)} restored appointments were never answered 201 before the target: "
                        f"{sorted(phantom)[:5]}")
    if survived := report.booked_after & report.restored:
        failures.append(f"{len(survived)} bookings made after the target were restored: {sorted(survived)[:5]}")
    if undone := report.cancelled_after - report.restored_confirmed:
        failures.append(f"{len(undone)} cancellations made after the target survived: {sorted(undone)[:5]}")
    if violations := {name: count for name, count in report.invariants.items() if count}:
        failures.append(f"invariant violations on the restored data: {violations}")
    if failures:
        raise DrillFailed("; ".join(failures))


async def run(options: Options) -> Report:
    """The whole drill; DrillFailed when a step fails or a check does not hold. Cleans up after itself."""
    step, report = Steps(), Report()
    tools, user = postgres_bindir(), OsUser.for_postgres()
    async with AsyncExitStack() as cleanup:
        workdir = report.workdir = new_workdir(user)
        if options.keep:
            cleanup.callback(print, f"kept: {workdir}")
        else:
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        try:
            primary = await make_primary(cleanup, tools, user, workdir, step)
            await migrate(primary, step)
            stack = await start_stack(cleanup, primary, step)
            before = await bookings_during_backup(stack, primary, options, report, step)
            target = await mark_target(primary, options, report, step)
            await changes_after_target(stack, before, options, report, step)
            await archive_and_lose_primary(stack, primary, report, step)
            began = time.monotonic()
            restored = await restore(cleanup, before.backup, primary, target, step)
            report.restore_seconds = time.monotonic() - began
            stopped = [line for line in tail(restored.log, 200).splitlines() if "recovery stopping" in line]
            step(f"restored and promoted in {report.restore_seconds:.1f} s; its log: "
                 f"{stopped[-1].split('LOG:', 1)[-1].strip() if stopped else 'no recovery stopping line'}")
            await check_restored(restored, report, step)
        except Exception:
            show_logs(workdir)
            raise
    report.total_seconds = time.monotonic() - step.started
    return report


def show_logs(workdir: Path, lines: int = 25) -> None:
    """The tails of every log the drill wrote, for a failure to be diagnosed after the directory is gone."""
    for log in sorted([*workdir.glob("*.log"), *(workdir / "logs").glob("*.log")]):
        print(f"--- {log.name} (last {lines} lines) ---", tail(log, lines), sep="\n", file=sys.stderr)


def summary(report: Report) -> str:
    restored_before = len(report.booked_before & report.restored)
    return "\n".join((
        "restore drill passed:",
        f"  target: {report.target}",
        f"  before the target: {len(report.booked_before)} bookings answered 201 ({report.booked_during_backup} "
        f"during the base backup, {report.races_lost} racing requests 409), {restored_before} restored, nothing "
        "else",
        f"  after the target: {len(report.booked_after)} bookings answered 201, "
        f"{len(report.booked_after & report.restored)} restored; {len(report.cancelled_after)} cancellations, all "
        "undone",
        f"  invariant checker on the restored data: {sum(report.invariants.values())} violations",
        f"  base backup: {report.backup_seconds:.1f} s for {report.backup_bytes / 1e6:.1f} MB (rate-limited); "
        f"WAL archive: {report.archived_segments} segments",
        f"  restore (copy, replay to the target, promotion): {report.restore_seconds:.1f} s",
        f"  drill: {report.total_seconds:.1f} s",
    ))


def main(argv: list[str] | None = None) -> int:
    """Entry point of `make restore-drill`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", choices=("name", "time"), default="name",
                        help="recover to the named restore point (default) or to the time it was taken")
    parser.add_argument("--backup-rate", default=Options.backup_rate, help="pg_basebackup --max-rate (default 8M)")
    parser.add_argument("--keep", action="store_true", help="keep the drill's directory (logs, backup, archive)")
    args = parser.parse_args(argv)
    options = Options(target=args.target, backup_rate=args.backup_rate, keep=args.keep)

    async def drill() -> Report:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # cleanup runs on SIGTERM too
        return await run(options)

    try:
        report = asyncio.run(drill())
    except Exception as error:  # any failure is the drill's verdict: say it in one line, the logs are above
        print(f"restore drill FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("restore drill interrupted; everything it made is removed", file=sys.stderr)
        return 130
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
