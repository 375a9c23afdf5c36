"""The machine's own limits, measured in the same run on the same machine as the scenarios they are read against.

- `driver_trivial_aiohttp`: our open-loop driver on a do-nothing aiohttp server (the driver's own floor);
- `wrk_direct`: wrk's maximum rate on that server;
- `wrk_gateway`: wrk's maximum rate through one more gateway process whose upstream is that server (the gateway's
  middleware and one proxy hop, nothing of the services);
- `pgbench_booking`: pgbench running one instant booking's transaction (the database's ceiling for our write).
"""

from __future__ import annotations

from bench.baselines import pgbench, wrk
from bench.baselines.gateway_hop import ROUTE, gateway_in_front_of
from bench.baselines.trivial import driver_floor, trivial_server
from bench.environment import BenchEnvironment
from bench.report import progress

PGBENCH_THREADS = 2
# A query like a reader's: the trivial server ignores it, the gateway forwards it whole.
QUERY = "?service_id=00000000-0000-0000-0000-000000000001&from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z"


def pgbench_slots(seconds: float) -> int:
    """Enough free slots that pgbench cannot run out (a few thousand transactions per second at most here)."""
    return max(20_000, int(5_000 * seconds))


async def measure(env: BenchEnvironment, profile: dict) -> dict[str, dict]:
    """Every baseline row, by name; a baseline that could not run carries an `error` instead of numbers."""
    seconds, connections = profile["baseline_seconds"], profile["wrk_connections"]
    rows: dict[str, dict] = {}
    async with trivial_server() as url:
        progress("baseline: our driver on the trivial handler")
        rows["driver_trivial_aiohttp"] = await driver_floor(env.client, url, profile["rate"], profile["seconds"])
        progress("baseline: wrk on the trivial handler")
        rows["wrk_direct"] = await wrk.run("wrk_direct", url + "/", seconds, connections)
        progress("baseline: wrk through a gateway in front of the trivial handler")
        async with gateway_in_front_of(env.processes, url, env.processes.log_dir) as gateway:
            rows["wrk_gateway"] = await wrk.run("wrk_gateway", gateway.url + ROUTE + QUERY, seconds, connections,
                                                headers={"Authorization": f"Bearer {env.admin_token}"})
    progress("baseline: pgbench with the booking transaction")
    rows["pgbench_booking"] = await pgbench.run(env.database_url, profile["pgbench_clients"], PGBENCH_THREADS, seconds,
                                                pgbench_slots(seconds))
    for name, row in rows.items():
        if "error" in row:
            progress(f"baseline {name}: {row['error']}")
    return rows
