"""/metrics as Prometheus scrapes it: valid exposition, shared instruments, base units, no per-request labels."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from smartslot_common import metrics
from smartslot_common.http import create_base_app, json_response


async def test_the_exposition_parses_and_holds_the_shared_instruments() -> None:
    app = create_base_app()

    async def item(_: web.Request) -> web.Response:
        return json_response({})

    app.router.add_get("/t-metrics/items/{id}", item)
    async with TestClient(TestServer(app)) as client:
        await client.get("/t-metrics/items/7")
        response = await client.get("/metrics")

        assert response.status == 200
        assert response.content_type == "text/plain"
        families = {family.name: family for family in text_string_to_metric_families(await response.text())}

    for name in (
        "smartslot_http_requests",
        "smartslot_http_request_duration_seconds",
        "smartslot_outbox_published",
        "smartslot_outbox_backlog",
        "smartslot_events_consumed",
        "smartslot_event_handle_duration_seconds",
    ):
        assert name in families, name
    assert families["smartslot_http_requests"].type == "counter"
    assert families["smartslot_http_request_duration_seconds"].type == "histogram"
    routes = {sample.labels.get("route") for sample in families["smartslot_http_requests"].samples}
    assert "/t-metrics/items/{id}" in routes
    assert "/t-metrics/items/7" not in routes


def test_latency_buckets_include_the_service_level_objectives() -> None:
    assert {0.025, 0.05, 0.1, 1.0} <= set(metrics.LATENCY_BUCKETS)
    assert list(metrics.LATENCY_BUCKETS) == sorted(metrics.LATENCY_BUCKETS)
