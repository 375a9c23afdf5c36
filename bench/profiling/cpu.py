"""CPU seconds (user + system) every process on the machine spent between two snapshots, grouped by role."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
LOAD_DRIVER = "load driver (this process)"
PY_SPY = "py-spy (sampling)"


@dataclass(frozen=True)
class Snapshot:
    """pid → (command line, CPU seconds so far)."""

    processes: dict[int, tuple[str, float]]


def snapshot() -> Snapshot:
    """Every process's command line and CPU seconds so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry.name)] = (command, (int(fields[11]) + int(fields[12])) / ticks)
    return Snapshot(found)


def role(pid: int, command: str, services: dict[int, str], database: str) -> str:
    """What a process is, for the table: one of our services, this run's PostgreSQL, a shared server, or other."""
    if pid in services:
        return services[pid]
    if pid == os.getpid():
        return LOAD_DRIVER
    if command.startswith("postgres:"):
        return "postgres (this run)" if f" {database} " in f" {command} " else "postgres (other)"
    for marker, name in (("beam.smp", "rabbitmq"), ("redis-server", "redis"), ("mailsink", "smtp sink"),
                         ("py-spy", PY_SPY)):
        if marker in command:
            return name
    return "other"


def spent(before: Snapshot, after: Snapshot, services: dict[int, str], database: str) -> dict[str, float]:
    """CPU seconds by role between the snapshots, largest first."""
    totals: dict[str, float] = {}
    for pid, (command, seconds) in after.processes.items():
        used = seconds - before.processes.get(pid, (command, 0.0))[1]
        if used > 0:
            name = role(pid, command, services, database)
            totals[name] = totals.get(name, 0.0) + used
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def table(totals: dict[str, float], wall_seconds: float, requests: int) -> str:
    """Markdown: CPU seconds, share, cores busy and CPU milliseconds per request for each role."""
    whole = sum(totals.values()) or 1.0
    lines = [f"wall {wall_seconds:.1f} s, CPU {whole:.1f} s = {whole / wall_seconds:.2f} cores busy, "
             f"{requests} requests", "",
             "| process | CPU s | share | cores | CPU ms / request |", "|---|---|---|---|---|"]
    for name, used in totals.items():
        per_request = f"{1000 * used / requests:.2f}" if requests else "—"
        lines.append(f"| {name} | {used:.1f} | {100 * used / whole:.0f} % | {used / wall_seconds:.2f} | "
                     f"{per_request} |")
    return "\n".join(lines)
