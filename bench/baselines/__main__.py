"""`python -m bench.baselines`: the gateway's own cost and nothing else, in about a minute.

wrk straight at the trivial server, then through a gateway hop in front of it twice: a GET like a cached availability
read, and a hold the trivial server refuses `409 slot_held` like a storm loser. For each hop row the hop gateway's
CPU milliseconds per request (its own process, from /proc) and its rate as a share of wrk direct. No scenarios, no
pgbench; like every benchmark, run it under the team's lock (`flock /work/notes/bench.lock ...`).
"""

from __future__ import annotations

import argparse
import time

import uvloop

from bench import report
from bench.baselines import QUERY, wrk
from bench.baselines.gateway_hop import HOLD_ROUTE, ROUTE, gateway_in_front_of
from bench.baselines.trivial import trivial_server
from bench.environment import BenchEnvironment, bench_environment
from bench.profiling import cpu
from bench.report import progress
from bench.scenarios.availability import GATEWAY_SETTINGS
from bench.scenarios.clients import register_clients

HOLD_BODY = '{"slot_id": "00000000-0000-0000-0000-000000000001"}'


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) one process has spent so far."""
    return cpu.snapshot().processes[pid][1]


def with_share(rows: dict[str, dict]) -> dict[str, dict]:
    """Each gateway row with its rate as a share of wrk direct (when both were measured)."""
    direct = rows.get("wrk_direct", {}).get("rate")
    for name, row in rows.items():
        if name != "wrk_direct" and direct and row.get("rate") and "error" not in row:
            row["share_of_direct"] = row["rate"] / direct
    return rows


def table(rows: dict[str, dict]) -> str:
    """Markdown: rate, latency, errors, the hop gateway's CPU per request and the share of wrk direct."""
    lines = ["| baseline | rate/s | p50 ms | p99 ms | errors | gateway CPU ms / request | share of wrk direct |",
             "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        if "error" in row:
            lines.append(f"| {name} | {row['error']} | | | | | |")
            continue
        cpu_ms, share = row.get("gateway_cpu_ms_per_request"), row.get("share_of_direct")
        lines.append(f"| {name} | {row['rate']:.0f} | {row.get('p50_ms', 0):.2f} | {row.get('p99_ms', 0):.2f} | "
                     f"{row['errors']} | {'—' if cpu_ms is None else f'{cpu_ms:.3f}'} | "
                     f"{'—' if share is None else f'{100 * share:.1f} %'} |")
    return "\n".join(lines)


async def _through_hop(env: BenchEnvironment, url: str, seconds: float, connections: int) -> dict[str, dict]:
    [client] = await register_clients(env, 1)  # a hold is a client's call
    calls = (("wrk_gateway", ROUTE + QUERY, None, env.admin_token),
             ("wrk_gateway_hold_refused", HOLD_ROUTE, HOLD_BODY, client))
    rows: dict[str, dict] = {}
    async with gateway_in_front_of(env.processes, url, env.processes.log_dir) as gateway:
        assert gateway.process is not None
        for name, path, body, token in calls:
            progress(f"baseline: {name}")
            before = process_cpu_seconds(gateway.process.pid)
            row = await wrk.run(name, gateway.url + path, seconds, connections,
                                headers={"Authorization": f"Bearer {token}"}, post_json=body,
                                refusals_expected=body is not None)
            spent = process_cpu_seconds(gateway.process.pid) - before
            if row.get("requests"):
                row["gateway_cpu_ms_per_request"] = 1000 * spent / row["requests"]
            rows[name] = row
    return rows


async def run(seconds: float, connections: int) -> dict[str, dict]:
    async with bench_environment(**GATEWAY_SETTINGS) as env, trivial_server() as url:
        progress("baseline: wrk on the trivial handler")
        rows = {"wrk_direct": await wrk.run("wrk_direct", url + "/", seconds, connections)}
        rows |= await _through_hop(env, url, seconds, connections)
    return with_share(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=50, help="wrk's connections")
    args = parser.parse_args()
    rows = uvloop.run(run(args.seconds, args.connections))
    text = f"# Gateway hop, {time.strftime('%Y-%m-%d %H:%M')}\n\n{table(rows)}\n"
    folder = report.RESULTS / f"baselines-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)
    (folder / "summary.md").write_text(text)
    print(text)
    print(f"saved in {folder}")


if __name__ == "__main__":
    main()
