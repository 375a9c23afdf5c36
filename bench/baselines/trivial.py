"""A do-nothing aiohttp server in its own process (uvloop, no access log): the floor every HTTP number is read
against. It answers `200 ok` to any method on any path, so a gateway can forward whatever it routes to it, except a
hold (`POST /v1/holds`), which it refuses with booking's `409 slot_held` problem, as a storm loser hears it.

`driver_floor` measures it with our own open-loop driver and its lean client: the driver's own share of every
latency.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from bench.driver import open_loop
from smartslot_common.http.lean_client import LeanClient
from smartslot_common.testing import wait_for
from smartslot_common.testing.processes import free_port

SERVER = """
import sys, uvloop
from aiohttp import web
HELD = b'{"type":"https://smartslot.dev/problems/slot_held","title":"Conflict","status":409,' \\
       b'"detail":"Someone else is holding this slot.","code":"slot_held","trace_id":null}'
async def ok(_): return web.Response(text="ok")
async def held(_): return web.Response(status=409, body=HELD, content_type="application/problem+json")
app = web.Application(); app.router.add_post("/v1/holds", held); app.router.add_route("*", "/{tail:.*}", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=uvloop.new_event_loop())
"""


async def _answers(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


@asynccontextmanager
async def trivial_server() -> AsyncIterator[str]:
    """The server's base URL while it runs."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVER, str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await wait_for(lambda: _answers(session, url + "/"), 10, what="the trivial server")
        yield url
    finally:
        server.terminate()
        await server.wait()


async def driver_floor(client: LeanClient, url: str, rate: float, seconds: float) -> dict:
    """`GET /` on the trivial server with our open-loop driver at `rate`/s: a baseline row."""
    request = client.prepare("GET", url + "/")

    async def hit(_: int) -> int:
        status, _ = await client.send(request)
        return status

    outcome = await open_loop("driver_trivial_aiohttp", hit, rate, int(rate * seconds), seconds * 3)
    summary = outcome.summary()
    errors = sum(outcome.errors.values()) + sum(n for status, n in outcome.statuses.items() if status != 200)
    return {
        "baseline": "driver_trivial_aiohttp", "tool": "bench.driver (open loop)",
        "load": f"{rate:g}/s offered, {seconds:g} s", "rate": summary["achieved_rate"],
        **{key: summary[key] for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")},
        "requests": outcome.sent, "errors": errors,
    }
