"""The six services as real processes for whole-stack tests: start, wait for readiness, stop, kill.

Each service gets a free loopback port and the run's isolated settings; its output goes to a log file that a
failing test can show.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp

from smartslot_common.testing.waiting import wait_for

# In start order: the console last, since it is ready only once the gateway answers.
SERVICES = ("booking", "availability", "waitlist", "notifier", "gateway", "console")
UPSTREAMS = ("booking", "availability", "waitlist", "notifier", "console")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        # socket addresses are typed Any (their shape depends on the family); AF_INET's is (host, port).
        return cast(int, probe.getsockname()[1])


# Ports for the services, below the kernel's ephemeral range (32768-60999 by default): `free_port()` and every
# `bind(0)` on the machine draw from that range, and a service binds its port only seconds after the port was chosen
# (imports, pools, broker first), long enough for another test's proxy or service to take it meanwhile. It happened:
# the notifier died with EADDRINUSE while another stack's service answered its /readyz. Below 20000 sit the servers
# (5432, 5672, 6379, 8080, 9090, ...); 25672 is RabbitMQ's distribution port.
SERVICE_PORTS = range(20000, 32000)
PORT_TAKEN = "address already in use"  # how a service's start-up fails when its port was taken (EADDRINUSE)
START_ATTEMPTS = 3


def service_port() -> int:
    """A loopback port nobody listens on right now, outside the ephemeral range."""
    while True:
        port = random.choice(SERVICE_PORTS)
        if port == 25672:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def _listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on `port` (any address), from /proc/net/tcp{,6}."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    return inodes


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds a socket listening on `port` (Linux; elsewhere assumed true)."""
    if not Path("/proc/net/tcp").exists():
        return True
    inodes = _listening_inodes(port)
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[len("socket:["):-1] in inodes:
            return True
    return False


@dataclass
class ServiceProcess:
    """One running service: its name, port, log file and process."""

    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ServiceStack:
    """The six services of one test run, wired to each other and to the run's isolated servers."""

    base_env: dict[str, str]
    log_dir: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            self.services[name] = ServiceProcess(name, self.unused_port(), self.log_dir / f"{name}.log")

    def unused_port(self) -> int:
        """A service port nobody listens on and no other service of this stack was given (the kernel's own check
        comes only at the bind, seconds later: another program may still take it meanwhile, see `start_all`)."""
        given = {service.port for service in self.services.values()}
        while (port := service_port()) in given:
            pass
        return port

    def env_for(self, name: str) -> dict[str, str]:
        """The environment of one service: isolated servers, its port, and where its peers are."""
        prefix = f"SMARTSLOT_{name.upper()}_"
        own = {prefix + "PORT": str(self.services[name].port), prefix + "HOST": "127.0.0.1"}
        env = os.environ | self.base_env | own
        for upstream in UPSTREAMS:
            env[f"SMARTSLOT_GATEWAY_{upstream.upper()}_URL"] = self.services[upstream].url
        env["SMARTSLOT_WAITLIST_BOOKING_URL"] = self.services["booking"].url
        env["SMARTSLOT_CONSOLE_GATEWAY_URL"] = self.services["gateway"].url
        return env

    def start(self, name: str) -> None:
        """Start one service (its output appended to its log)."""
        service = self.services[name]
        log = service.log_path.open("ab")
        service.process = subprocess.Popen(
            [sys.executable, "-m", name], env=self.env_for(name), stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    async def wait_ready(self, name: str, timeout: float = 30.0) -> None:
        """Wait for `/readyz` to answer 200 from this very process (not another program that took the port first);
        fail with the service's log tail if it dies or times out."""
        service = self.services[name]

        async def ready() -> bool:
            if service.process is not None and service.process.poll() is not None:
                raise AssertionError(f"{name} exited with {service.process.returncode}:\n{service.log_tail()}")
            try:
                async with aiohttp.ClientSession() as session, session.get(service.url + "/readyz") as response:
                    if response.status != 200:
                        return False
            except aiohttp.ClientError:
                return False
            return service.process is None or listens_on(service.process.pid, service.port)

        try:
            await wait_for(ready, timeout, interval=0.1, what=f"{name} to be ready on its own port {service.port}")
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- {name} log ---\n{service.log_tail()}") from None

    def names(self) -> list[str]:
        """The services this stack starts, in order."""
        return list(SERVICES)

    async def ready(self, name: str, timeout: float = 30.0) -> None:
        await self.wait_ready(name, timeout)

    async def start_all(self) -> None:
        """Start every service and wait until each is ready. A service whose port another program took between its
        choice and the service's bind exits at once: the stack is stopped and started again with a new port for it
        (its callers hold its URL), up to START_ATTEMPTS times."""
        for attempt in range(1, START_ATTEMPTS + 1):
            for name in self.names():
                self.start(name)
            try:
                for name in self.names():
                    await self.ready(name)
                return
            except AssertionError:
                lost = self._lost_their_port()
                if not lost or attempt == START_ATTEMPTS:
                    raise
            self.stop_all()
            for name in lost:
                self.services[name].port = self.unused_port()

    def _lost_their_port(self) -> list[str]:
        return [name for name, service in self.services.items()
                if service.process is not None and service.process.poll() is not None
                and PORT_TAKEN in service.log_tail()]

    def signal(self, name: str, signum: int) -> None:
        process = self.services[name].process
        if process is not None and process.poll() is None:
            process.send_signal(signum)

    def kill(self, name: str) -> None:
        """kill -9: no shutdown, no cleanup, unacked messages stay unacked."""
        self.signal(name, signal.SIGKILL)
        self._reap(name, 10)

    def stop(self, name: str, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        self.signal(name, signal.SIGTERM)
        if not self._reap(name, grace):
            self.kill(name)

    def _reap(self, name: str, timeout: float) -> bool:
        process = self.services[name].process
        if process is None:
            return True
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop_all(self) -> None:
        for name in reversed(SERVICES):
            self.stop(name)


def stack_settings(stack_env: dict[str, str], admin_email: str, admin_password: str, **extra: str) -> dict[str, str]:
    """The environment of a whole test or benchmark stack: isolated servers, a fresh JWT secret and identity key,
    an admin."""
    return stack_env | {
        "SMARTSLOT_JWT_SECRET": secrets.token_urlsafe(48),
        "SMARTSLOT_INTERNAL_IDENTITY_KEY": secrets.token_urlsafe(48),
        "SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL": admin_email,
        "SMARTSLOT_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
        "SMARTSLOT_SWEEP_INTERVAL_SECONDS": "0.2",
    } | extra


@asynccontextmanager
async def running_services(env: dict[str, str], log_dir: Path) -> AsyncIterator[ServiceStack]:
    """The six services started with `env`, ready on every `/readyz`; stopped afterwards."""
    processes = ServiceStack(env, log_dir)
    try:
        await processes.start_all()
        yield processes
    finally:
        processes.stop_all()


@asynccontextmanager
async def mail_sink(script: Path, mail_dir: Path) -> AsyncIterator[tuple[int, Path]]:
    """The local SMTP sink `make run` uses (`script`, scripts/mailsink.py), on a free port, saving into `mail_dir`."""
    port = free_port()
    sink = await asyncio.create_subprocess_exec(
        sys.executable, str(script), "--host", "127.0.0.1", "--port", str(port),
        "--dir", str(mail_dir), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )

    async def listening() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    try:
        await wait_for(listening, 15, what="the SMTP sink to listen")
        yield port, mail_dir
    finally:
        with contextlib.suppress(ProcessLookupError):  # Ctrl-C reaches the whole process group, the sink too
            sink.terminate()
        await sink.wait()
