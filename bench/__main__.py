"""`python -m bench`: run the benchmark scenarios against a fresh isolated stack and report.

The default is short (well under 5 minutes); `--full` runs the whole matrix. Loopback only, bounded in count and
time. After every scenario the invariants are checked and printed; a violation makes the run fail.
"""

from __future__ import annotations

import argparse
import json
import sys

import uvloop

from bench import baseline, report
from bench.environment import bench_environment
from bench.scenarios import availability, booking, notifications, waitlist

SHORT = {"rate": 200.0, "seconds": 10.0, "storm_clients": 1000, "email_rate": 50.0, "waitlist_rate": 20.0}
FULL = {"rate": 400.0, "seconds": 30.0, "storm_clients": 5000, "email_rate": 200.0, "waitlist_rate": 50.0}


async def run(profile: dict) -> int:
    async with bench_environment(**availability.GATEWAY_SETTINGS) as env:
        base = await baseline.trivial_handler(env.session, profile["rate"], profile["seconds"])
        results = [
            await booking.instant_bookings(env, profile["rate"], profile["seconds"]),
            await booking.hot_slot_storm(env, profile["storm_clients"]),
            await availability.cached_reads(env, profile["rate"], profile["seconds"]),
            await notifications.confirmation_emails(env, profile["email_rate"], profile["seconds"]),
            await waitlist.cancellation_to_offer(env, profile["waitlist_rate"], profile["seconds"]),
        ]
    rows = [base.summary()] + [result.outcome.summary() | {"facts": result.facts, "invariants": result.invariants}
                               for result in results]
    document = {"profile": profile, "results": rows, "markdown": report.markdown(rows, base.summary())}
    folder = report.save(document)
    print(document["markdown"])
    for row in rows[1:]:
        print(f"{row['scenario']}: facts {json.dumps(row['facts'])}; invariants {json.dumps(row['invariants'])}")
    print(f"saved in {folder}")
    return 1 if any(any(row.get("invariants", {}).values()) for row in rows) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the whole matrix (longer)")
    parser.add_argument("--rate", type=float, help="offered requests per second for open-loop scenarios")
    parser.add_argument("--seconds", type=float, help="duration of each open-loop scenario")
    parser.add_argument("--storm-clients", type=int, help="clients in the hot-slot storm")
    parser.add_argument("--waitlist-rate", type=float, help="cancellations per second in the waitlist scenario")
    args = parser.parse_args()
    profile = dict(FULL if args.full else SHORT)
    for name in ("rate", "seconds", "storm_clients", "waitlist_rate"):
        if getattr(args, name) is not None:
            profile[name] = getattr(args, name)
    sys.exit(uvloop.run(run(profile)))


main()
