"""The machine's own limits, measured in the same run: a trivial aiohttp handler with the same driver."""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from bench.driver import Outcome, open_loop
from smartslot_common.testing import wait_for
from smartslot_common.testing.processes import free_port

SERVER = """
import sys, uvloop
from aiohttp import web
async def ok(_): return web.Response(text="ok")
app = web.Application(); app.router.add_get("/", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=uvloop.new_event_loop())
"""


async def trivial_handler(session: aiohttp.ClientSession, rate: float, seconds: float) -> Outcome:
    """Latency of `GET /` on a do-nothing aiohttp server in its own process, at `rate`/s."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVER, str(port))
    url = f"http://127.0.0.1:{port}/"

    async def up() -> bool:
        try:
            async with session.get(url) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def hit(_: int) -> int:
        async with session.get(url) as response:
            await response.read()
            return response.status

    try:
        await wait_for(up, 10, what="the baseline server")
        return await open_loop("baseline_trivial_aiohttp", hit, rate, int(rate * seconds), seconds * 3)
    finally:
        server.terminate()
        await server.wait()
