"""`python -m bench`: run the benchmark scenarios against a fresh isolated stack and report.

The default is short (under 5 minutes); `--full` runs the whole matrix. Loopback only, bounded in count and time.
First the baselines (wrk, wrk through a gateway hop, pgbench with the booking transaction, our driver on a trivial
handler), then the scenarios, then load sweeps of availability reads and instant bookings. Every result is also
shown as ratios to the baselines, and the sweeps are plotted. After every scenario and sweep point the invariants
are checked; a violation makes the run fail (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import uvloop

from bench import baselines, plot, report
from bench.environment import BenchEnvironment, bench_environment
from bench.ratios import ratios
from bench.report import progress
from bench.scenarios import availability, booking, mixed, notifications, waitlist
from bench.scenarios.booking import ScenarioResult
from bench.sweep import rates_with, sweep

SHORT = {"rate": 200.0, "seconds": 6.0, "storm_clients": 1000, "email_rate": 50.0, "waitlist_rate": 20.0,
         "funnel_rate": 50.0,
         "baseline_seconds": 5.0, "wrk_connections": 50, "pgbench_clients": 8, "past_knee": 0,
         "availability_sweep": [50.0, 100.0, 400.0], "booking_sweep": [50.0, 100.0, 300.0]}
# The scenarios run at rates this two-core machine sustains (past its knee an open-loop run only builds a backlog that
# spills into the next scenario); the sweeps go beyond, up to the first point that does not keep up and one more.
FULL = {"rate": 150.0, "seconds": 30.0, "storm_clients": 5000, "email_rate": 100.0, "waitlist_rate": 50.0,
        "funnel_rate": 50.0,
        "baseline_seconds": 15.0, "wrk_connections": 100, "pgbench_clients": 16, "past_knee": 1,
        "availability_sweep": [50.0, 100.0, 200.0, 400.0, 600.0, 800.0, 1200.0, 1600.0],
        "booking_sweep": [25.0, 50.0, 100.0, 200.0, 300.0, 400.0, 600.0, 800.0]}
PLOT = "latency_vs_load.png"


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


async def _sweeps(env: BenchEnvironment, profile: dict, measured: dict[str, ScenarioResult],
                  bases: dict[str, dict]) -> dict[str, dict]:
    """The two load sweeps; each reuses its scenario's main run as the point at the main rate."""
    rate, seconds, past_knee = profile["rate"], profile["seconds"], profile["past_knee"]
    progress("sweep: availability reads through the gateway")
    reads = await sweep(lambda r: availability.cached_reads(env, r, seconds),
                        rates_with(profile["availability_sweep"], rate), {rate: measured["availability"]}, past_knee)
    progress("sweep: instant bookings")
    books = await sweep(lambda r: booking.instant_bookings(env, r, seconds),
                        rates_with(profile["booking_sweep"], rate), {rate: measured["instant"]}, past_knee)
    return {
        "availability_via_gateway": reads | {"title": "availability reads through the gateway",
                                             "capacity": _capacity(bases, "wrk_gateway")},
        "instant_bookings": books | {"title": "instant bookings (booking service)",
                                     "capacity": _capacity(bases, "pgbench_booking")},
    }


async def _scenarios(env: BenchEnvironment, profile: dict) -> dict[str, ScenarioResult]:
    rate, seconds = profile["rate"], profile["seconds"]
    progress(f"scenario: instant bookings at {rate:g}/s")
    measured = {"instant": await booking.instant_bookings(env, rate, seconds)}
    progress(f"scenario: hot-slot storm of {profile['storm_clients']} clients")
    measured["storm"] = await booking.hot_slot_storm(env, profile["storm_clients"])
    progress(f"scenario: availability reads through the gateway at {rate:g}/s")
    measured["availability"] = await availability.cached_reads(env, rate, seconds)
    progress(f"scenario: confirmation to email at {profile['email_rate']:g}/s")
    measured["emails"] = await notifications.confirmation_emails(env, profile["email_rate"], seconds)
    progress(f"scenario: cancellation to waitlist offer at {profile['waitlist_rate']:g}/s")
    measured["waitlist"] = await waitlist.cancellation_to_offer(env, profile["waitlist_rate"], seconds)
    progress(f"scenario: hold then confirm at {profile['funnel_rate']:g} funnels/s")
    measured["funnel"] = await mixed.hold_confirm_funnel(env, profile["funnel_rate"], seconds)
    progress(f"scenario: a mixed day (90 % reads, 10 % bookings and cancellations) at {rate:g}/s")
    measured["mixed"] = await mixed.mixed_day(env, rate, seconds)
    return measured


async def run(profile: dict) -> int:
    started = time.monotonic()
    async with bench_environment(**availability.GATEWAY_SETTINGS) as env:
        bases = await baselines.measure(env, profile)
        measured = await _scenarios(env, profile)
        sweeps = await _sweeps(env, profile, measured, bases)
    rows = [result.outcome.summary() | {"facts": result.facts, "invariants": result.invariants}
            for result in measured.values()]
    for row in rows:
        row["ratios"] = ratios(row, bases)
    folder = report.new_folder()
    subtitle = f"{time.strftime('%Y-%m-%d %H:%M')}, {profile['seconds']:g} s per point"
    plot.latency_against_load(sweeps, folder / PLOT, subtitle)
    document = {"profile": profile, "baselines": bases, "results": rows, "sweeps": sweeps, "plot": PLOT,
                "markdown": report.markdown(rows, bases, sweeps),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the whole matrix (longer)")
    parser.add_argument("--rate", type=float, help="offered requests per second for open-loop scenarios")
    parser.add_argument("--seconds", type=float, help="duration of each open-loop scenario and sweep point")
    parser.add_argument("--storm-clients", type=int, help="clients in the hot-slot storm")
    parser.add_argument("--email-rate", type=float, help="bookings per second in the confirmation-to-email scenario")
    parser.add_argument("--waitlist-rate", type=float, help="cancellations per second in the waitlist scenario")
    parser.add_argument("--funnel-rate", type=float, help="hold-then-confirm funnels per second")
    parser.add_argument("--baseline-seconds", type=float, help="duration of each wrk and pgbench baseline")
    parser.add_argument("--availability-sweep", type=_rates, metavar="R1,R2,...",
                        help="offered rates of the availability sweep besides --rate ('' for none)")
    parser.add_argument("--booking-sweep", type=_rates, metavar="R1,R2,...",
                        help="offered rates of the instant-booking sweep besides --rate ('' for none)")
    args = parser.parse_args()
    profile = dict(FULL if args.full else SHORT)
    for name in ("rate", "seconds", "storm_clients", "email_rate", "waitlist_rate", "funnel_rate", "baseline_seconds",
                 "availability_sweep", "booking_sweep"):
        if getattr(args, name) is not None:
            profile[name] = getattr(args, name)
    sys.exit(uvloop.run(run(profile)))


if __name__ == "__main__":  # importable by the unit tests
    main()
