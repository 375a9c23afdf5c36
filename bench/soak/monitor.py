"""What the soak watches while the load runs: every answer with its time, every service process's resident
memory, and the age of the oldest row each retention policy covers."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import asyncpg

from booking.retention import policies as booking_policies
from booking.settings import BookingSettings
from notifier.retention import policies as notifier_policies
from notifier.settings import NotifierSettings
from smartslot_common.http.lean_client import LeanClient, Prepared
from smartslot_common.retention import RetentionPolicy
from smartslot_common.testing.processes import ServiceStack
from waitlist.retention import policies as waitlist_policies
from waitlist.settings import WaitlistSettings

# Every retention window each service has (its settings' `retention_*` fields), by service.
WINDOWS = {
    "booking": ("outbox", "idempotency_keys"),
    "waitlist": ("outbox", "inbox", "early_outcomes"),
    "notifier": ("inbox", "deliveries", "reminders"),
}


class RecordingClient(LeanClient):
    """The load's client, noting when each answer (its status) or connection error (its class name) came;
    `started` is set by the first request sent (the load's start: the scenario's set-up goes through the API)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[float, float, int | str]] = []  # sent, answered, status or error
        self.started = asyncio.Event()
        self.started_at = 0.0

    async def send(self, request: Prepared) -> tuple[int, bytes]:
        sent = time.monotonic()
        if not self.started.is_set():
            self.started_at = sent
            self.started.set()
        try:
            status, body = await super().send(request)
        except Exception as error:
            self.answers.append((sent, time.monotonic(), type(error).__name__))
            raise
        self.answers.append((sent, time.monotonic(), status))
        return status, body


def retention_settings(window_seconds: float, interval_seconds: float) -> dict[str, str]:
    """Every service's retention windows and pass interval, short, as settings."""
    env = {}
    for service, names in WINDOWS.items():
        env[f"SMARTSLOT_{service.upper()}_RETENTION_INTERVAL_SECONDS"] = f"{interval_seconds:g}"
        env |= {f"SMARTSLOT_{service.upper()}_RETENTION_{name.upper()}": f"{window_seconds:g}" for name in names}
    return env


def retained(window_seconds: float) -> dict[str, list[RetentionPolicy]]:
    """Each service's retention policies (by its schema) with every window `window_seconds` long."""
    window = timedelta(seconds=window_seconds)

    def fields(service: str) -> dict[str, timedelta]:
        return {f"retention_{name}": window for name in WINDOWS[service]}

    return {
        "booking": booking_policies(BookingSettings.model_construct(**fields("booking"))),
        "waitlist": waitlist_policies(WaitlistSettings.model_construct(**fields("waitlist"))),
        "notifier": notifier_policies(NotifierSettings.model_construct(**fields("notifier"))),
    }


async def oldest_ages(db: asyncpg.Connection, policies: dict[str, list[RetentionPolicy]]) -> dict[str, float]:
    """`schema.table` (with its policy's condition) → seconds since its oldest covered row."""
    ages = {}
    for schema, covered in policies.items():
        for policy in covered:
            query = policy.oldest_age_sql.replace(f"FROM {policy.table} ", f"FROM {schema}.{policy.table} ")
            label = f"{schema}.{policy.table}" + ("" if policy.where == "true" else f" ({policy.where})")
            ages[label] = float(await db.fetchval(query))
    return ages


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return []


class RssSampler:
    """Every few seconds, VmRSS of each service process (and its children): `samples["name[pid]"]`."""

    def __init__(self, stack: ServiceStack, interval: float = 5.0) -> None:
        self.stack, self.interval = stack, interval
        self.samples: dict[str, list[tuple[float, int]]] = defaultdict(list)

    def sample(self) -> None:
        now = time.monotonic()
        for name, service in self.stack.services.items():
            if service.process is None or service.process.poll() is not None:
                continue
            pending = [service.process.pid]
            while pending:
                pid = pending.pop()
                kib = _rss_kib(pid)
                if kib is not None:
                    self.samples[f"{name}[{pid}]"].append((now, kib))
                pending += _children(pid)

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)  # a sampling period, not a synchronisation
