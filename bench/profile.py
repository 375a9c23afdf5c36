"""`python -m bench.profile <scenario>`: one scenario against a fresh isolated stack, with py-spy sampling the chosen
services and every process's CPU time accounted, to say where the time goes.

Writes `bench/results/profile-<time>/`: `summary.md` (CPU by process, per request, and each sampled service's
hottest frames) and py-spy's raw collapsed stacks per service (`<service>.txt`, for any flame-graph tool).

The CPU per request that counts is the load's (`bench.profiling.meter`, as `make bench` reports it): from the first
request to the last answer, or to the last email or offer where the unit of work goes on after the answer, summed
over the stack's processes. The whole scenario, set-up included, is shown below it.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from bench import report
from bench.environment import BenchEnvironment, bench_environment
from bench.profiling import cpu, meter, stacks
from bench.scenarios import availability, booking, mixed, notifications, waitlist
from bench.scenarios.booking import ScenarioResult

Scenario = Callable[[BenchEnvironment, float, float], Awaitable[ScenarioResult]]
SCENARIOS: dict[str, tuple[Scenario, tuple[str, ...]]] = {
    "instant": (booking.instant_bookings, ("booking",)),
    "storm": (lambda env, rate, _: booking.hot_slot_storm(env, int(rate)), ("booking",)),
    "reads": (availability.cached_reads, ("gateway", "availability")),
    "emails": (notifications.confirmation_emails, ("gateway", "booking", "notifier")),
    "waitlist": (waitlist.cancellation_to_offer, ("booking", "waitlist")),
    "funnel": (mixed.hold_confirm_funnel, ("gateway", "booking")),
    "mixed": (mixed.mixed_day, ("gateway", "availability", "booking")),
}
SAMPLES_PER_SECOND = 250


def py_spy() -> str:
    """The py-spy next to this interpreter (the locked dev dependency), or on PATH; exit with one line if neither."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        sys.exit("bench.profile: py-spy is not installed; `make install` installs it from requirements/dev.lock")
    return found


async def _spy(pid: int, out: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        py_spy(), "record", "--pid", str(pid), "--format", "raw", "-o", str(out),
        "--rate", str(SAMPLES_PER_SECOND), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def profile(name: str, rate: float, seconds: float, sampled: tuple[str, ...]) -> Path:
    scenario = SCENARIOS[name][0]
    folder = report.RESULTS / f"profile-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)
    async with bench_environment(**availability.GATEWAY_SETTINGS) as env:
        pids = {service.process.pid: service.name for service in env.processes.services.values() if service.process}
        spies = [await _spy(pid, folder / f"{service}.txt") for pid, service in pids.items() if service in sampled]
        before, started = cpu.snapshot(), time.monotonic()
        result = await scenario(env, rate, seconds)
        wall, after = time.monotonic() - started, cpu.snapshot()
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            await spy.wait()
    database = env.database_url.rsplit("/", 1)[-1]
    load, requests = env.meter.take(), result.outcome.sent
    parts = [f"# Profile: {name} at {rate:g}/s for {seconds:g} s", "",
             "```", str(result.outcome.summary()), f"facts: {result.facts}", f"invariants: {result.invariants}", "```",
             "", "## CPU per request under load (first request to last answer, email or offer)", ""]
    parts += [meter.table(meter.per_request(load, requests)), "", "By process:", "",
              cpu.table(load.spent, load.wall_seconds, requests)] if load else ["not measured"]
    parts += ["", "## CPU by process (the whole machine, the whole scenario: set-up included)", "",
              cpu.table(cpu.spent(before, after, pids, database), wall, requests)]
    for service in sampled:
        raw = folder / f"{service}.txt"
        if raw.exists():
            parts += ["", f"## {service}: py-spy samples", "", stacks.summary(stacks.load(raw))]
    (folder / "summary.md").write_text("\n".join(parts) + "\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--rate", type=float, default=200.0, help="offered rate (the storm: clients)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--services", help="comma-separated services to sample (default: the scenario's own)")
    args = parser.parse_args()
    sampled = tuple(args.services.split(",")) if args.services else SCENARIOS[args.scenario][1]
    folder = uvloop.run(profile(args.scenario, args.rate, args.seconds, sampled))
    print((folder / "summary.md").read_text())
    print(f"saved in {folder}")


if __name__ == "__main__":
    main()
