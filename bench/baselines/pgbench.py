"""The database's own limit for our write: pgbench running one instant booking's transaction (bench/pgbench/booking.sql)
against a copy of the booking schema in the benchmark's isolated database.

The copy (schema `bench_pgbench`, built by booking's own migrations, so the same constraints, indexes and outbox
trigger) keeps pgbench's rows away from the running services: booking's relay would otherwise publish them and every
consumer would act on bookings nobody made.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from pathlib import Path

import asyncpg
from hdrh.histogram import HdrHistogram

from bench.driver import HIGHEST_US, LOWEST_US, SIGNIFICANT_FIGURES
from smartslot_common.migrations import apply_migrations, load_plan

SCRIPT = Path(__file__).resolve().parents[1] / "pgbench" / "booking.sql"
SCHEMA = "bench_pgbench"
PROVIDERS = 20
MAKE_CATALOG = """
INSERT INTO clinics (id, name, timezone, address) VALUES ('00000000-0000-0000-0000-00000000c001', 'Bench', 'UTC',
    '1 Bench Street');
INSERT INTO services (id, name, duration_minutes, price_cents, currency, cancellation_policy)
VALUES ('00000000-0000-0000-0000-00000000e001', 'Bench', 15, 1000, 'EUR', '{"kind": "flexible"}');
INSERT INTO providers (id, user_id, clinic_id, display_name, timezone)
SELECT md5('provider' || p)::uuid, md5('user' || p)::uuid, '00000000-0000-0000-0000-00000000c001',
       'Provider ' || p, 'UTC'
FROM generate_series(0, $1 - 1) AS p;
"""
# Slot n (1-based) has id md5(n) and belongs to provider n % PROVIDERS, at its (n / PROVIDERS)-th quarter hour from
# tomorrow on, so no two slots of a provider overlap; the script takes slot nextval('pgbench_slot_pick').
MAKE_SLOTS = """
INSERT INTO slots (id, provider_id, service_id, starts_at, ends_at, capacity, origin)
SELECT md5(n::text)::uuid, md5('provider' || (n % $2))::uuid, '00000000-0000-0000-0000-00000000e001',
       date_trunc('hour', now()) + interval '1 day' + (n / $2) * interval '15 minutes',
       date_trunc('hour', now()) + interval '1 day' + (n / $2 + 1) * interval '15 minutes', 1, 'ad_hoc'
FROM generate_series(1, $1) AS n
"""
CONSISTENT = """
SELECT (SELECT count(*) FROM appointments WHERE status = 'confirmed') AS appointments,
       (SELECT coalesce(sum(booked), 0) FROM slots) AS booked,
       (SELECT count(*) FROM outbox) AS events,
       (SELECT count(*) FROM appointment_transitions) AS transitions
"""


async def prepare(database_url: str, slots: int) -> None:
    """The schema copy with a catalog, `slots` free slots and the sequence that hands them out."""
    connection = await asyncpg.connect(database_url)
    try:
        _, plan = load_plan("booking")
        await apply_migrations(connection, SCHEMA, plan)
        await connection.execute(f"SET search_path TO {SCHEMA}, public")
        async with connection.transaction():
            for statement in MAKE_CATALOG.strip().split(";\n"):
                await connection.execute(statement, *([PROVIDERS] if "$1" in statement else []))
            await connection.execute(MAKE_SLOTS, slots, PROVIDERS)
            await connection.execute("CREATE SEQUENCE pgbench_slot_pick")
        await connection.execute("ANALYZE slots, services, providers, clinics")
    finally:
        await connection.close()


async def written(database_url: str) -> dict[str, int]:
    """What the transactions left behind: confirmed appointments, booked seats, events, audit rows."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(f"SET search_path TO {SCHEMA}, public")
        return dict(await connection.fetchrow(CONSISTENT))
    finally:
        await connection.close()


def parse_summary(text: str) -> dict:
    """tps, transactions and failures from pgbench's summary on stdout."""
    def number(pattern: str) -> float | None:
        found = re.search(pattern, text, re.MULTILINE)
        return float(found.group(1)) if found else None

    return {
        "tps": number(r"^tps = ([\d.]+) \(without initial connection time\)") or number(r"^tps = ([\d.]+)"),
        "transactions": int(number(r"^number of transactions actually processed: (\d+)") or 0),
        "failed": int(number(r"^number of failed transactions: (\d+)") or 0),
        "latency_average_ms": number(r"^latency average = ([\d.]+) ms"),
    }


def latency_histogram(lines: list[str]) -> tuple[HdrHistogram, int]:
    """Per-transaction latencies of a `--log` file (third field, microseconds); lines not timed are counted apart.

    Format (PostgreSQL 15): `client_id transaction_no time script_no time_epoch time_us [schedule_lag retries]`,
    where `time` is `failed` or `skipped` for a transaction that did not complete.
    """
    histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
    untimed = 0
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        if fields[2].isdigit():
            histogram.record_value(max(LOWEST_US, int(fields[2])))
        else:
            untimed += 1
    return histogram, untimed


def row(summary: dict, histogram: HdrHistogram, untimed: int, clients: int, threads: int, seconds: float) -> dict:
    """The baseline row: transactions per second and latency percentiles."""
    return {
        "baseline": "pgbench_booking", "tool": "pgbench", "load": f"{clients} clients, -j {threads}, {seconds:g} s",
        "rate": summary["tps"], "p50_ms": histogram.get_value_at_percentile(50) / 1000,
        "p90_ms": histogram.get_value_at_percentile(90) / 1000,
        "p99_ms": histogram.get_value_at_percentile(99) / 1000, "max_ms": histogram.get_max_value() / 1000,
        "mean_ms": summary["latency_average_ms"],  # pgbench's own figure, to cross-check the log's
        "requests": summary["transactions"], "errors": summary["failed"] + untimed,
    }


def _log_lines(folder: Path) -> list[str]:
    """Every line of pgbench's per-transaction logs (one file per thread)."""
    return [line for path in folder.glob("booking*") for line in path.read_text().splitlines()]


def first_complaint(stderr: str) -> str:
    """The line that says why pgbench stopped (a client aborted, say, when the pre-made slots ran out)."""
    lines = stderr.strip().splitlines() or ["no output"]
    return next((line for line in lines if ": error: client " in line), lines[-1])


async def run(database_url: str, clients: int, threads: int, seconds: float, slots: int) -> dict:
    """pgbench with the booking transaction for `seconds`; a row with an `error` when pgbench is missing or fails."""
    tool = shutil.which("pgbench")
    if tool is None:
        return {"baseline": "pgbench_booking", "tool": "pgbench", "error": "pgbench is not installed "
                "(Debian: apt-get install -y postgresql-client-15)"}
    await prepare(database_url, slots)
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as folder:
        process = await asyncio.create_subprocess_exec(
            tool, "--no-vacuum", "--protocol=prepared", f"--client={clients}", f"--jobs={threads}",
            f"--time={max(1, round(seconds))}", f"--file={SCRIPT}", "--log", f"--log-prefix={folder}/booking",
            database_url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=os.environ | {"PGOPTIONS": f"-c search_path={SCHEMA},public"},
        )
        out, err = await process.communicate()
        lines = _log_lines(Path(folder))
    summary = parse_summary(out.decode())
    result = row(summary, *latency_histogram(lines), clients, threads, seconds)
    result["written"] = await written(database_url)
    if result["written"]["appointments"] != result["requests"]:  # every committed transaction books one seat
        result["error"] = f"{result['requests']} transactions but {result['written']['appointments']} appointments"
    if process.returncode != 0 or not summary["tps"]:
        result["error"] = f"pgbench exited with {process.returncode}: {first_complaint(err.decode())}"
        if result["requests"] >= slots:
            result["error"] += f" (all {slots} pre-made slots were taken)"
    return result
