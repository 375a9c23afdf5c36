"""`python -m bench.soak` (`make soak`): the mixed day, open loop at half its knee rate, against a stack of its own
(Redis and RabbitMQ behind proxies, short retention windows), with a fault every few minutes.

It fails (exit 1, the reasons printed) if any service process's resident memory grows more than `--rss-limit` %
from the end of warm-up to the end (a restarted process from the end of its own warm-up), any retained table keeps
a row older than its window plus two retention intervals, any 5xx or connection error comes from a request in flight
outside a fault window (grace included), or any invariant of the mixed day breaks. The summary is printed and saved
as `bench/results/soak-<time>/summary.md`, every memory sample beside it as `rss.csv`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import sys
import time
from pathlib import Path
from types import ModuleType

from bench import report
from bench.driver import raise_open_files_limit
from bench.environment import BenchEnvironment
from bench.profiling.meter import CpuMeter
from bench.scenarios.mixed import mixed_day
from bench.soak import faults, judge
from bench.soak.monitor import RecordingClient, RssSampler, oldest_ages, retained, retention_settings
from bench.soak.summary import Findings
from smartslot_common.testing.processes import SERVICES

HARNESS = Path(__file__).resolve().parents[2] / "tests" / "chaos" / "harness.py"
# Half the mixed day's knee on the two-core machine `make bench` runs on (it keeps up at about 550/s there).
DEFAULT_RATE = 150.0
QUIET = {"SMARTSLOT_LOG_LEVEL": "WARNING", "SMARTSLOT_ACCESS_TOKEN_TTL_SECONDS": "86400"}  # tokens outlive the soak


def _harness() -> ModuleType:
    """tests/chaos/harness.py (the chaos tests' stack with proxies), loaded by path: tests/ is not a package."""
    spec = importlib.util.spec_from_file_location("chaos_harness", HARNESS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def _faults(chaos: object, client: RecordingClient, times: list[float], args: argparse.Namespace,
                  done: list[faults.Fault]) -> None:
    await client.started.wait()
    for number, at in enumerate(times):
        await asyncio.sleep(max(0.0, client.started_at + at - time.monotonic()))  # the schedule, not a sync
        done.append(await faults.inject(chaos, number, args.fault_seconds, args.grace))
        print(f"soak: {done[-1].what}", flush=True)


async def soak(args: argparse.Namespace) -> tuple[Findings, Path]:
    """Run the soak; its findings, saved (before the stack is torn down) in the folder named."""
    duration = args.minutes * 60
    warmup = max(args.warmup_share * duration, args.warmup_floor)
    restart_warmup = min(warmup, args.restart_warmup)
    times = faults.schedule(duration, args.fault_every or min(120.0, duration / 4), args.fault_seconds, args.grace)
    raise_open_files_limit()
    settings = QUIET | retention_settings(args.retention_window, args.retention_interval)
    async with _harness().chaos_stack(proxied={"redis": SERVICES, "amqp": SERVICES}, **settings) as chaos, \
            RecordingClient() as client:
        pids = {s.process.pid: n for n, s in chaos.services.services.items() if s.process}
        env = BenchEnvironment(chaos.services, chaos.database_url, chaos.session, chaos.admin, chaos.mail_dir, client,
                               CpuMeter(pids, chaos.database_url.rsplit("/", 1)[-1]))
        sampler, injected = RssSampler(chaos.services, args.rss_every), []
        sampling = asyncio.create_task(sampler.run())
        injecting = asyncio.create_task(_faults(chaos, client, times, args, injected))
        result = await mixed_day(env, args.rate, duration)
        await injecting
        sampler.sample()
        sampling.cancel()
        ages = await oldest_ages(chaos.db, retained(args.retention_window))
        shown = {"minutes": f"{args.minutes:g}", "rate": f"{args.rate:g}/s",
                 "warm-up": f"{warmup:.0f} s ({restart_warmup:.0f} s once restarted)",
                 "faults": f"every {times[1] - times[0] if len(times) > 1 else 0:.0f} s, {args.fault_seconds:g} s "
                           f"each, {args.grace:g} s grace", "RSS limit": f"{args.rss_limit:g} %",
                 "retention": f"{args.retention_window:g} s windows, a pass every {args.retention_interval:g} s"}
        growths, young = judge.rss_growth(sampler.samples, client.started_at + warmup, restart_warmup)
        findings = Findings(shown, client.answers, injected, growths, young, ages, result.invariants, result.facts,
                            client.started_at, dict(sampler.samples))
        _judge(findings, args)
        return findings, _save(findings)


async def _stoppable(args: argparse.Namespace) -> tuple[Findings, Path]:
    """The soak, cancelled by SIGTERM as by Ctrl-C, so either tears its stack down instead of orphaning it."""
    running = asyncio.current_task()
    assert running is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, running.cancel)
    return await soak(args)


def _judge(findings: Findings, args: argparse.Namespace) -> None:
    findings.reasons += [f"{g.process}: resident memory grew {g.percent:.1f} % after warm-up"
                         for g in judge.grown(findings.growths, args.rss_limit)]
    overdue = judge.overdue(findings.ages, args.retention_window, args.retention_interval)
    findings.reasons += [f"{table}: a row {age:.0f} s old, past its window and two passes"
                         for table, age in overdue.items()]
    outside = judge.failures_outside_faults(findings.answers, [fault.window for fault in findings.faults])
    if outside:
        first = ", ".join(f"{status} at {sent - findings.started:.1f} s" for sent, _, status in outside[:5])
        findings.reasons.append(f"{len(outside)} 5xx or connection errors outside fault windows (first: {first})")
    findings.reasons += [f"invariant {name}: {count} violations" for name, count in findings.invariants.items()
                         if count]


def _save(findings: Findings) -> Path:
    folder = report.RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)
    (folder / "summary.md").write_text(findings.markdown())
    (folder / "rss.csv").write_text(findings.rss_csv())
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "30")),
                        help="length of the load (SOAK_MINUTES; default 30)")
    parser.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE", DEFAULT_RATE)),
                        help="requests per second, open loop (SOAK_RATE; default half the mixed day's knee)")
    parser.add_argument("--fault-every", type=float, default=0.0,
                        help="seconds between faults (default: a quarter of the run, at most 120)")
    parser.add_argument("--fault-seconds", type=float, default=10.0, help="how long each fault lasts")
    parser.add_argument("--grace", type=float, default=15.0, help="seconds after a fault that still count inside it")
    # Bounded caches (availability's kept answers and pages, the gateway's) fill for the first 12-16 minutes of
    # the mixed day at 150/s and then stay flat; a leak keeps growing. So memory is judged over the second half.
    parser.add_argument("--warmup-share", type=float, default=0.5, help="share of the run that is warm-up")
    parser.add_argument("--warmup-floor", type=float, default=60.0, help="warm-up lasts at least this many seconds")
    parser.add_argument("--restart-warmup", type=float, default=120.0,
                        help="warm-up of a restarted process, at most (its caches refill from a busy stack at once)")
    parser.add_argument("--rss-limit", type=float, default=float(os.environ.get("SOAK_RSS_LIMIT", "10")),
                        help="allowed growth of a process's VmRSS after warm-up, in % (SOAK_RSS_LIMIT)")
    parser.add_argument("--rss-every", type=float, default=5.0, help="seconds between memory samples")
    parser.add_argument("--retention-window", type=float, default=60.0, help="every retention window, seconds")
    parser.add_argument("--retention-interval", type=float, default=10.0, help="seconds between retention passes")
    args = parser.parse_args()
    # The standard event loop, as the chaos tests run the harness's proxies (uvloop's sockets refuse their reset).
    try:
        findings, folder = asyncio.run(_stoppable(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("soak stopped before its end: nothing judged, its stack torn down")
    print(findings.markdown())
    print(f"saved in {folder}")
    if findings.reasons:
        sys.exit("soak failed: " + "; ".join(findings.reasons))


if __name__ == "__main__":
    main()
