"""A running booking app's `/metrics` (shared, runtime and booking instruments) passes `promtool check metrics`."""

from __future__ import annotations

import asyncio
import shutil

import pytest

pytestmark = pytest.mark.integration
PROMTOOL = shutil.which("promtool")


async def test_exposition_passes_promtool(booking_http, api, catalog) -> None:
    if PROMTOOL is None:
        pytest.fail("promtool is not installed: `make test-tools` installs Debian's prometheus package", pytrace=False)
    await api.slot(catalog, api.future(days=41))  # some RED samples and pool use
    async with booking_http.get("/metrics") as response:
        assert response.status == 200
        body = await response.read()
    for name in (b"smartslot_db_pool_connections{", b"smartslot_event_loop_lag_seconds_bucket",
                 b"smartslot_outbox_oldest_unsent_age_seconds", b"smartslot_http_requests_total{",
                 # what DatabasePoolSaturated and BackgroundJobNotSucceeding read
                 b"smartslot_db_pool_in_use_connections{", b"smartslot_db_pool_max_connections{",
                 b'smartslot_job_last_success_timestamp_seconds{background_job="hold-sweeper"}',
                 b'smartslot_job_interval_seconds{background_job="hold-sweeper"}'):
        assert name in body, name
    process = await asyncio.create_subprocess_exec(
        PROMTOOL, "check", "metrics", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(body), 30)
    assert process.returncode == 0, output.decode()
