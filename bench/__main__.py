"""`python -m bench`: run the benchmark scenarios against a fresh isolated stack and report.

The default is short (3-4 minutes here) and runs every scenario at the rate its target names; `--full` runs the
whole matrix. Loopback only, bounded in count and time. First the baselines (wrk, wrk through a gateway hop, pgbench
with the booking transaction, our driver on a trivial handler), then the scenarios, then load sweeps of availability
reads and instant bookings. Every scenario's load is metered: CPU milliseconds per request summed over the stack,
each service's share. The run ends with the targets table (met / not met / not measured), every result as ratios to
the baselines, and the sweeps plotted. After every scenario and sweep point the invariants are checked; a violation
makes the run fail (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import uvloop

from bench import baselines, plot, report, targets
from bench.environment import BenchEnvironment, bench_environment
from bench.profiling import meter
from bench.ratios import ratios
from bench.report import progress
from bench.scenarios import availability, booking, live, mixed, notifications, waitlist
from bench.scenarios.booking import ScenarioResult
from bench.sweep import rates_with, sweep

# Each scenario at the rate (or size) its target names (bench/targets.py), so that every target is exercised; the
# sweeps go on past those rates until a point does not keep up.
SHORT = {"instant_rate": 250.0, "reads_rate": 1000.0, "mixed_rate": 600.0, "seconds": 6.0, "storm_clients": 1000,
         "live_streams": 1000,
         "big_storm_clients": 10_000, "email_rate": 200.0, "waitlist_rate": 20.0, "funnel_rate": 150.0,
         "baseline_seconds": 5.0, "wrk_connections": 50, "pgbench_clients": 8, "past_knee": 0,
         "availability_sweep": [250.0, 500.0, 1500.0], "booking_sweep": [100.0, 400.0]}
# The scenarios run at rates this two-core machine sustains for 30 s (past its knee an open-loop run only builds a
# backlog that spills into the next scenario); the sweeps go beyond, up to the first point that does not keep up and
# one more, and carry the rate targets.
FULL = {"instant_rate": 150.0, "reads_rate": 150.0, "mixed_rate": 150.0, "seconds": 30.0, "storm_clients": 5000,
        "live_streams": 1000,
        "big_storm_clients": 10_000, "email_rate": 100.0, "waitlist_rate": 50.0, "funnel_rate": 50.0,
        "baseline_seconds": 15.0, "wrk_connections": 100, "pgbench_clients": 16, "past_knee": 1,
        "availability_sweep": [50.0, 100.0, 200.0, 400.0, 600.0, 800.0, 1200.0, 1600.0],
        "booking_sweep": [25.0, 50.0, 100.0, 200.0, 300.0, 400.0, 600.0, 800.0]}
OPEN_LOOP_RATES = ("instant_rate", "reads_rate", "mixed_rate")  # what --rate sets at once
PLOT = "latency_vs_load.png"
# What one request of a scenario is, when it is not simply one request sent.
UNITS = {"storm": "client", "big_storm": "client", "emails": "booking with its email", "live": "open stream"}


def violated(rows: list[dict], sweeps: dict[str, dict]) -> bool:
    """Whether any scenario or sweep point broke an invariant."""
    checks = [row.get("invariants", {}) for row in rows]
    checks += [point["invariants"] for entry in sweeps.values() for point in entry["points"]]
    return any(any(check.values()) for check in checks)


def _capacity(bases: dict[str, dict], name: str) -> tuple[str, float] | None:
    """A baseline's ceiling for the plot, if it was measured."""
    base = bases.get(name, {})
    usable = "error" not in base and base.get("rate")
    return (f"{report.BASELINE_LABELS[name]} max", base["rate"]) if usable else None


def units(key: str, result: ScenarioResult) -> int:
    """How many units of work the scenario's CPU is divided by: a booking with its email counts only once answered
    201; otherwise every request sent (a storm's every client)."""
    if key == "emails":
        return int(result.facts.get("bookings", 0))
    return result.outcome.sent


async def metered(env: BenchEnvironment, key: str, scenario: Awaitable[ScenarioResult]) -> ScenarioResult:
    """Run a scenario and attach the CPU its load cost (the window its `env.meter.measuring()` bracketed)."""
    result = await scenario
    window = env.meter.take()
    if window is not None:
        result.cpu = meter.per_request(window, units(key, result), UNITS.get(key, "request"))
    return result


async def _sweeps(env: BenchEnvironment, profile: dict, measured: dict[str, ScenarioResult],
                  bases: dict[str, dict]) -> dict[str, dict]:
    """The two load sweeps; each reuses its scenario's main run as the point at the main rate."""
    seconds, past_knee = profile["seconds"], profile["past_knee"]
    reads_rate, instant_rate = profile["reads_rate"], profile["instant_rate"]
    progress("sweep: availability reads through the gateway")
    reads = await sweep(lambda r: metered(env, "availability", availability.cached_reads(env, r, seconds)),
                        rates_with(profile["availability_sweep"], reads_rate), {reads_rate: measured["availability"]},
                        past_knee)
    progress("sweep: instant bookings")
    books = await sweep(lambda r: metered(env, "instant", booking.instant_bookings(env, r, seconds)),
                        rates_with(profile["booking_sweep"], instant_rate), {instant_rate: measured["instant"]},
                        past_knee)
    return {
        "availability_via_gateway": reads | {"title": "availability reads through the gateway",
                                             "capacity": _capacity(bases, "wrk_gateway")},
        "instant_bookings": books | {"title": "instant bookings through the gateway",
                                     "capacity": _capacity(bases, "pgbench_booking")},
    }


def _plan(env: BenchEnvironment, profile: dict) -> list[tuple[str, str, Callable[[], Awaitable[ScenarioResult]]]]:
    """(key, progress line, scenario) for every scenario of the run, in order; a storm of 0 clients is left out."""
    seconds = profile["seconds"]
    storms = [(key, clients) for key, clients in (("storm", profile["storm_clients"]),
                                                  ("big_storm", profile["big_storm_clients"])) if clients]
    return [
        ("instant", f"instant bookings at {profile['instant_rate']:g}/s",
         lambda: booking.instant_bookings(env, profile["instant_rate"], seconds)),
        *[(key, f"hot-slot storm of {clients} clients", partial(booking.hot_slot_storm, env, clients))
          for key, clients in storms],
        ("availability", f"availability reads through the gateway at {profile['reads_rate']:g}/s",
         lambda: availability.cached_reads(env, profile["reads_rate"], seconds)),
        ("emails", f"confirmation to email at {profile['email_rate']:g}/s",
         lambda: notifications.confirmation_emails(env, profile["email_rate"], seconds)),
        ("waitlist", f"cancellation to waitlist offer at {profile['waitlist_rate']:g}/s",
         lambda: waitlist.cancellation_to_offer(env, profile["waitlist_rate"], seconds)),
        ("funnel", f"hold then confirm at {profile['funnel_rate']:g} funnels/s",
         lambda: mixed.hold_confirm_funnel(env, profile["funnel_rate"], seconds)),
        ("mixed", f"a mixed day (90 % reads, 10 % bookings and cancellations) at {profile['mixed_rate']:g}/s",
         lambda: mixed.mixed_day(env, profile["mixed_rate"], seconds)),
        *([("live", f"one booking seen by {profile['live_streams']} open availability streams",
            partial(live.booking_seen_by_every_stream, env, profile["live_streams"]))]
          if profile["live_streams"] else []),
    ]


async def _scenarios(env: BenchEnvironment, profile: dict) -> dict[str, ScenarioResult]:
    measured: dict[str, ScenarioResult] = {}
    for key, line, scenario in _plan(env, profile):
        progress(f"scenario: {line}")
        measured[key] = await metered(env, key, scenario())
        if measured[key].cpu:
            progress(f"  CPU {measured[key].cpu['stack_ms_per_request']:.2f} ms per {UNITS.get(key, 'request')}, "
                     "summed over the stack")
    return measured


async def run(profile: dict) -> int:
    started = time.monotonic()
    async with bench_environment(**availability.GATEWAY_SETTINGS) as env:
        bases = await baselines.measure(env, profile)
        measured = await _scenarios(env, profile)
        sweeps = await _sweeps(env, profile, measured, bases)
    rows = [{"key": key} | result.outcome.summary() | {"facts": result.facts, "invariants": result.invariants,
                                                        "cpu": result.cpu}
            for key, result in measured.items()]
    for row in rows:
        row["ratios"] = ratios(row, bases)
    verdicts = targets.evaluate(rows, bases, sweeps)
    folder = report.new_folder()
    subtitle = f"{time.strftime('%Y-%m-%d %H:%M')}, {profile['seconds']:g} s per point"
    plot.latency_against_load(sweeps, folder / PLOT, subtitle)
    document = {"profile": profile, "baselines": bases, "results": rows, "sweeps": sweeps, "targets": verdicts,
                "plot": PLOT, "markdown": report.markdown(rows, bases, sweeps, verdicts),
                "elapsed_seconds": round(time.monotonic() - started, 1)}
    report.save(document, folder)
    print(document["markdown"])
    for row in rows:
        print(f"{row['scenario']}: facts {json.dumps(row['facts'])}; invariants {json.dumps(row['invariants'])}")
    print(f"saved in {folder} (results.json, results.md, {PLOT}) after {document['elapsed_seconds']:g} s")
    if violated(rows, sweeps):
        print("INVARIANT VIOLATED: see the invariants above and in results.json")
        return 1
    return 0


def _rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


OVERRIDES = ("live_streams",
             "instant_rate", "reads_rate", "mixed_rate", "seconds", "storm_clients", "big_storm_clients", "email_rate",
             "waitlist_rate", "funnel_rate", "baseline_seconds", "availability_sweep", "booking_sweep")


def profile_from(args: argparse.Namespace) -> dict:
    """The short or full profile with the command line's overrides; `rate` (the driver floor's) is the highest
    open-loop rate of the run."""
    profile = dict(FULL if args.full else SHORT)
    if args.rate is not None:
        profile |= dict.fromkeys(OPEN_LOOP_RATES, args.rate)
    for name in OVERRIDES:
        if getattr(args, name, None) is not None:
            profile[name] = getattr(args, name)
    profile["rate"] = max(profile[name] for name in OPEN_LOOP_RATES)
    return profile


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("--full", action="store_true", help="the whole matrix (longer)")
    found.add_argument("--rate", type=float, help="one offered rate for the instant, reads and mixed scenarios")
    found.add_argument("--instant-rate", type=float, help="instant bookings per second")
    found.add_argument("--reads-rate", type=float, help="availability reads per second through the gateway")
    found.add_argument("--mixed-rate", type=float, help="requests per second of the mixed day")
    found.add_argument("--seconds", type=float, help="duration of each open-loop scenario and sweep point")
    found.add_argument("--storm-clients", type=int, help="clients in the hot-slot storm (0: none)")
    found.add_argument("--big-storm-clients", type=int, help="clients in the second, large storm (0: none)")
    found.add_argument("--email-rate", type=float, help="bookings per second in the confirmation-to-email scenario")
    found.add_argument("--waitlist-rate", type=float, help="cancellations per second in the waitlist scenario")
    found.add_argument("--funnel-rate", type=float, help="hold-then-confirm funnels per second")
    found.add_argument("--live-streams", type=int, help="open availability streams that watch one booking (0: none)")
    found.add_argument("--baseline-seconds", type=float, help="duration of each wrk and pgbench baseline")
    found.add_argument("--availability-sweep", type=_rates, metavar="R1,R2,...",
                       help="offered rates of the availability sweep besides the reads rate ('' for none)")
    found.add_argument("--booking-sweep", type=_rates, metavar="R1,R2,...",
                       help="offered rates of the instant-booking sweep besides the instant rate ('' for none)")
    return found


def main() -> None:
    sys.exit(uvloop.run(run(profile_from(parser().parse_args()))))


if __name__ == "__main__":  # importable by the unit tests
    main()
