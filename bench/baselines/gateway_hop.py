"""One more gateway process whose availability and booking upstreams are the trivial server: a request through it pays
exactly the gateway's share (request id, rate limits, JWT and role freshness, the proxy hop) and nothing of the
services themselves.

It is started like the stack's own gateway (same isolated servers, JWT secret and lifted rate limits, from the
stack's environment), on a port of its own, and stopped as soon as wrk is done.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from smartslot_common.testing.processes import ServiceProcess, ServiceStack, free_port

ROUTE = "/v1/availability"  # a GET any authenticated role may make, served by availability
HOLD_ROUTE = "/v1/holds"  # a POST with a body, served by booking (the trivial server refuses it like a storm loser)
HOP_UPSTREAMS = ("availability", "booking")


def _start(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`python -m gateway` with `env`, its output appended to `log_path` (as ServiceStack.start does)."""
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT)


@asynccontextmanager
async def gateway_in_front_of(processes: ServiceStack, upstream_url: str, log_dir: Path,
                              source_path: str | None = None) -> AsyncIterator[ServiceProcess]:
    """The extra gateway while it runs (its `url`, and its `process` for CPU accounting); its availability and booking
    upstream is `upstream_url`. `source_path` (a PYTHONPATH) runs it from other sources, e.g. an older commit's."""
    hop = ServiceStack(processes.base_env, log_dir)  # its own free ports and log files
    gateway = hop.services["gateway"] = ServiceProcess("gateway", free_port(), log_dir / "gateway-hop.log")
    env = processes.env_for("gateway") | {"SMARTSLOT_GATEWAY_PORT": str(gateway.port)} | {
        f"SMARTSLOT_GATEWAY_{upstream.upper()}_URL": upstream_url for upstream in HOP_UPSTREAMS}
    if source_path:
        env["PYTHONPATH"] = source_path
    gateway.process = _start(env, gateway.log_path)
    try:
        await hop.wait_ready("gateway")
        yield gateway
    finally:
        hop.stop("gateway")
