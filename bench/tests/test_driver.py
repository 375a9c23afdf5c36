"""The open-loop driver with the lean client: answers counted by status, failures by kind and never as answers,
latency recorded for every request, and a storm's file-descriptor needs checked before it starts."""

from __future__ import annotations

import resource

import pytest
from aiohttp import web

from bench.driver import burst, open_loop, raise_open_files_limit
from smartslot_common.http.lean_client import LeanClient
from smartslot_common.testing.processes import free_port


async def _served(client: LeanClient, port: int) -> int:
    status, _ = await client.request("GET", f"http://127.0.0.1:{port}/")
    return status


async def test_an_open_loop_run_counts_every_answer_by_status() -> None:
    async def teapot(_: web.Request) -> web.Response:
        return web.Response(status=418)

    app = web.Application()
    app.router.add_get("/", teapot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with LeanClient() as client:
            outcome = await open_loop("teapots", lambda _: _served(client, port), rate=2000, count=40, max_seconds=5)
            reused = client.connections_opened < 40
    finally:
        await runner.cleanup()

    assert outcome.sent == 40
    assert outcome.statuses == {418: 40}
    assert outcome.errors == {}
    assert outcome.histogram.get_total_count() == 40
    assert reused  # keep-alive: not one connection per request


async def test_a_storm_on_a_closed_port_is_all_errors_and_no_answer() -> None:
    port = free_port()
    async with LeanClient() as client:
        outcome = await burst("refused", lambda _: _served(client, port), clients=50)

    assert outcome.statuses == {}
    assert outcome.errors == {"ConnectionRefusedError": 50}
    assert outcome.histogram.get_total_count() == 50


async def test_a_storm_larger_than_the_open_files_limit_is_refused_before_it_starts() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    async with LeanClient() as client:
        with pytest.raises(RuntimeError, match="open files"):
            await burst("too big", lambda _: _served(client, 1), clients=hard)


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    in_force = raise_open_files_limit()

    assert in_force == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert hard == resource.RLIM_INFINITY or in_force == hard
