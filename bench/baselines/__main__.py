"""`python -m bench.baselines`: the gateway's own cost and nothing else, in about a minute.

wrk straight at the trivial server, then through a gateway hop in front of it twice: a GET like a cached availability
read, and a hold the trivial server refuses `409 slot_held` like a storm loser. For each hop row the hop gateway's
CPU milliseconds per request (its own process, from /proc) and its rate as a share of wrk direct. No scenarios, no
pgbench; like every benchmark, run it under the team's lock (`flock /work/notes/bench.lock ...`).

`--spy` also samples the hop gateway with py-spy during each of its rows (its hottest frames go to the summary, its
raw stacks beside it); the sampling costs the gateway CPU too, so read its figures from a run without it.
`--gateway-source DIR[:DIR]` runs the hop gateway (only it) from other sources, e.g. an older commit's
`git archive`, to compare two versions on the same stack.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path

import uvloop

from bench import report
from bench.baselines import QUERY, wrk
from bench.baselines.gateway_hop import HOLD_ROUTE, ROUTE, gateway_in_front_of
from bench.baselines.trivial import trivial_server
from bench.environment import BenchEnvironment, bench_environment
from bench.profile import py_spy
from bench.profiling import cpu, stacks
from bench.report import progress
from bench.scenarios.availability import GATEWAY_SETTINGS
from bench.scenarios.clients import register_clients

HOLD_BODY = '{"slot_id": "00000000-0000-0000-0000-000000000001"}'


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) one process has spent so far."""
    return cpu.snapshot().processes[pid][1]


def with_share(rows: dict[str, dict]) -> dict[str, dict]:
    """Each gateway row with its rate as a share of the wrk direct measured before it (when both were measured)."""
    direct = None
    for name, row in rows.items():
        if name.startswith("wrk_direct"):
            direct = row.get("rate") if "error" not in row else None
        elif direct and row.get("rate") and "error" not in row:
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


async def _spy(pid: int, out: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        py_spy(), "record", "--pid", str(pid), "--format", "raw", "-o", str(out), "--rate", "250", "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def _through_hop(env: BenchEnvironment, url: str, seconds: float, connections: int,
                       spy_into: Path | None, source_path: str | None, tag: str = "") -> dict[str, dict]:
    [client] = await register_clients(env, 1)  # a hold is a client's call
    calls = (("wrk_gateway", ROUTE + QUERY, None, env.admin_token),
             ("wrk_gateway_hold_refused", HOLD_ROUTE, HOLD_BODY, client))
    rows: dict[str, dict] = {}
    async with gateway_in_front_of(env.processes, url, env.processes.log_dir, source_path) as gateway:
        assert gateway.process is not None
        for name, path, body, token in calls:
            progress(f"baseline: {name}")
            raw = f"{name} [{tag}].txt" if tag else f"{name}.txt"
            spy = await _spy(gateway.process.pid, spy_into / raw) if spy_into else None
            before = process_cpu_seconds(gateway.process.pid)
            row = await wrk.run(name, gateway.url + path, seconds, connections,
                                headers={"Authorization": f"Bearer {token}"}, post_json=body,
                                refusals_expected=body is not None)
            spent = process_cpu_seconds(gateway.process.pid) - before
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await spy.wait()
            if row.get("requests"):
                row["gateway_cpu_ms_per_request"] = 1000 * spent / row["requests"]
            rows[name] = row
    return rows


def label(source: str | None, round_: int, rounds: int) -> str:
    """How a hop row names the sources it ran from (and its round, when there are several)."""
    name = "this checkout" if source is None else source.split(":")[0]
    return f"{name}, round {round_}" if rounds > 1 else name


async def run(seconds: float, connections: int, spy_into: Path | None = None,
              sources: tuple[str | None, ...] = (None,), rounds: int = 1) -> dict[str, dict]:
    """wrk direct, then through a hop gateway from each of `sources` in turn (None: this checkout), `rounds` times;
    with more than one source every row is named after its source, and wrk direct is measured again each round."""
    async with bench_environment(**GATEWAY_SETTINGS) as env, trivial_server() as url:
        rows: dict[str, dict] = {}
        for round_ in range(1, rounds + 1):
            progress("baseline: wrk on the trivial handler")
            direct = "wrk_direct" if rounds == 1 else f"wrk_direct (round {round_})"
            rows[direct] = await wrk.run("wrk_direct", url + "/", seconds, connections)
            for source in sources:
                tag = "" if len(sources) == 1 and rounds == 1 else label(source, round_, rounds)
                hop = await _through_hop(env, url, seconds, connections, spy_into, source, tag)
                rows |= {f"{name} [{tag}]" if tag else name: row for name, row in hop.items()}
    return with_share(rows)


def spied(folder: Path) -> str:
    """The hottest frames of each sampled row, as markdown sections."""
    parts = []
    for raw in sorted(folder.glob("*.txt")):
        parts += ["", f"## {raw.stem}: the hop gateway's py-spy samples", "", stacks.summary(stacks.load(raw))]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=50, help="wrk's connections")
    parser.add_argument("--spy", action="store_true", help="sample the hop gateway with py-spy (costs it CPU)")
    parser.add_argument("--gateway-source", metavar="PYTHONPATH", action="append",
                        help="also run the hop from these sources (repeatable), before this checkout's, to compare")
    parser.add_argument("--rounds", type=int, default=1, help="measure everything this often, sources alternating")
    args = parser.parse_args()
    folder = report.RESULTS / f"baselines-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)
    sources = (*(args.gateway_source or ()), None)
    rows = uvloop.run(run(args.seconds, args.connections, folder if args.spy else None, sources, args.rounds))
    text = f"# Gateway hop, {time.strftime('%Y-%m-%d %H:%M')}\n\n{table(rows)}\n{spied(folder)}\n"
    (folder / "summary.md").write_text(text)
    print(text)
    print(f"saved in {folder}")


if __name__ == "__main__":
    main()
