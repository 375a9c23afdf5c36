"""A service process told to stop (SIGTERM, as on every deploy) finishes what it is doing: the request in flight is
answered, its cleanup runs to the end, and it exits 0 without a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from smartslot_common.http import create_base_app
from smartslot_common.http.relays import relaying
from smartslot_common.http.server import serve
from smartslot_common.testing.processes import free_port
from smartslot_common.testing.waiting import wait_for

pytestmark = pytest.mark.integration

SERVICE = textwrap.dedent('''
    import asyncio
    from typing import ClassVar

    from aiohttp import web
    from pydantic_settings import SettingsConfigDict

    from smartslot_common.http import create_base_app, json_response
    from smartslot_common.runtime import run_service
    from smartslot_common.settings import ServiceSettings


    class Settings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="SMARTSLOT_STOPPING_", extra="ignore")
        service_name: ClassVar[str] = "stopping"


    async def slow(request: web.Request) -> web.Response:
        print("request in hand", flush=True)
        await asyncio.sleep(1.0)
        return json_response({"answered": True})


    async def background(app: web.Application):
        work = asyncio.create_task(asyncio.sleep(3600))
        yield
        work.cancel()  # the teardown stops its own work, then waits for it
        await asyncio.gather(work, return_exceptions=True)
        await asyncio.sleep(0.2)  # a teardown that takes a moment, as closing pools and channels do
        print("cleanup finished", flush=True)


    def create_app(settings: Settings) -> web.Application:
        app = create_base_app()
        app.router.add_get("/slow", slow)
        app.cleanup_ctx.append(background)
        return app


    run_service(create_app, Settings)
''')


async def test_a_stopped_service_answers_the_request_in_flight_and_cleans_up_to_the_end(tmp_path: Path) -> None:
    script = tmp_path / "stopping_service.py"
    script.write_text(SERVICE)
    port = free_port()
    env = {**os.environ, "SMARTSLOT_STOPPING_PORT": str(port), "SMARTSLOT_LOG_JSON": "false"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as http:

            async def listening() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz"):
                        return True
                except aiohttp.ClientConnectionError:
                    return False

            await wait_for(listening, 20, what="the service to listen")
            answer = asyncio.create_task(http.get(f"http://127.0.0.1:{port}/slow"))
            assert process.stdout is not None
            assert (await asyncio.wait_for(process.stdout.readline(), 10)).strip() == b"request in hand"
            process.send_signal(signal.SIGTERM)
            async with await asyncio.wait_for(answer, 10) as response:
                assert response.status == 200
                assert await response.json() == {"answered": True}
        stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, stderr.decode()
    assert b"cleanup finished" in stdout
    assert b"Traceback" not in stderr, stderr.decode()


async def _endless_events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    while True:
        await response.write(b"data: tick\n\n")
        await asyncio.sleep(0.05)


async def test_a_stream_relayed_from_another_service_ends_when_the_relay_shuts_down() -> None:
    upstream_app = create_base_app()
    upstream_app.router.add_get("/events", _endless_events)
    upstream_port, relay_port = free_port(), free_port()

    async def relay(request: web.Request) -> web.StreamResponse:
        async with aiohttp.ClientSession() as session, session.get(
                f"http://127.0.0.1:{upstream_port}/events") as upstream:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            with contextlib.suppress(aiohttp.ClientError), relaying(request, upstream):
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            return response

    relay_app = create_base_app()
    relay_app.router.add_get("/events", relay)
    serving = [asyncio.create_task(serve(upstream_app, "127.0.0.1", upstream_port, handle_signals=False)),
               asyncio.create_task(serve(relay_app, "127.0.0.1", relay_port, handle_signals=False,
                                         shutdown_timeout=30.0))]
    try:
        async with aiohttp.ClientSession() as http:
            await wait_for(lambda: _answers(http, upstream_port), 10, what="the upstream to listen")
            await wait_for(lambda: _answers(http, relay_port), 10, what="the relay to listen")
            async with http.get(f"http://127.0.0.1:{relay_port}/events") as stream:
                assert (await stream.content.readline()).startswith(b"data: tick")
                serving[1].cancel()  # the relay shuts down, as on SIGTERM
                started = asyncio.get_running_loop().time()
                with contextlib.suppress(aiohttp.ClientPayloadError):
                    while await asyncio.wait_for(stream.content.readline(), 5):
                        pass
                ended_after = asyncio.get_running_loop().time() - started
            await asyncio.wait_for(asyncio.gather(serving[1], return_exceptions=True), 5)
    finally:
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)

    assert ended_after < 5  # not the 30 s a shutdown waits for a request in flight


async def _answers(http: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with http.get(f"http://127.0.0.1:{port}/healthz"):
            return True
    except aiohttp.ClientConnectionError:
        return False
