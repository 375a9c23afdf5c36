"""One trace runs from the gateway through booking, PostgreSQL, the outbox relay, RabbitMQ and a consumer.

The three services run in this test's process with an in-memory span exporter (tracing is process-wide, so this
package runs in a pytest process of its own). A hold placed through the gateway must leave one trace: the gateway's
server span, its call to booking, booking's server span and database spans, and the notifier's consumer span, each
linked to the one before by its parent id.
"""

from __future__ import annotations

import importlib.metadata
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.trace import SpanKind

from smartslot_common.testing import IsolatedStack, wait_for
from smartslot_common.testing.processes import free_port
from smartslot_common.tracing import in_memory_tracing

pytestmark = pytest.mark.integration
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def exporter():
    """Spans of this process, kept in memory (installed before any app is built, so every app is instrumented)."""
    return in_memory_tracing("trace-chain", environment="test")


def _shared(stack: IsolatedStack) -> dict:
    return {"database_url": stack.database_url, "redis_url": stack.redis_url, "amqp_url": stack.amqp_url,
            "namespace": stack.namespace}


@pytest.fixture(scope="module")
async def gateway(stack: IsolatedStack, exporter) -> AsyncIterator[TestClient]:
    """Booking and the notifier behind a gateway, all in this process."""
    from booking.app import create_app as create_booking
    from booking.settings import BookingSettings
    from gateway.app import create_app as create_gateway
    from gateway.settings import GatewaySettings
    from notifier.app import create_app as create_notifier
    from notifier.settings import NotifierSettings

    booking = TestServer(create_booking(BookingSettings(**_shared(stack))))
    notifier = TestServer(create_notifier(NotifierSettings(**_shared(stack), smtp_port=free_port())))
    await booking.start_server()
    await notifier.start_server()
    settings = GatewaySettings(
        **_shared(stack), booking_url=str(booking.make_url("")).rstrip("/"),
        notifier_url=str(notifier.make_url("")).rstrip("/"), jwt_secret=secrets.token_urlsafe(48),
        bootstrap_admin_email=ADMIN_EMAIL, bootstrap_admin_password=ADMIN_PASSWORD, rate_limit_enabled=False,
    )
    client = TestClient(TestServer(create_gateway(settings)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await notifier.close()
        await booking.close()


async def _post(client: TestClient, path: str, token: str | None, body: dict) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.post(path, json=body, headers=headers) as response:
        payload = await response.json(content_type=None)
        assert response.status in (200, 201), (path, response.status, payload)
        return payload


async def _token(client: TestClient, email: str, password: str) -> str:
    return (await _post(client, "/v1/auth/token", None, {"email": email, "password": password}))["access_token"]


async def _held_appointment(client: TestClient) -> str:
    """Catalog as the admin, then a client's hold; returns the appointment id."""
    admin = await _token(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    service = await _post(client, "/v1/services", admin, {
        "name": "Check-up", "duration_minutes": 30, "price_cents": 1000, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"}})
    clinic = await _post(client, "/v1/clinics", admin, {"name": "Trace", "timezone": "Europe/Berlin"})
    doctor = await _post(client, "/v1/admin/users", admin, {
        "email": f"dr-{secrets.token_hex(4)}@example.com", "password": secrets.token_urlsafe(12),
        "name": "Dr. Trace", "role": "provider"})
    provider = await _post(client, "/v1/providers", admin, {
        "user_id": doctor["id"], "clinic_id": clinic["id"], "display_name": "Dr. Trace",
        "service_ids": [service["id"]]})
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    slot = await _post(client, f"/v1/providers/{provider['id']}/slots", admin,
                       {"service_id": service["id"], "starts_at": starts.isoformat()})
    email, password = f"ada-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    await _post(client, "/v1/auth/register", None, {"email": email, "password": password, "name": "Ada"})
    hold = await _post(client, "/v1/holds", await _token(client, email, password), {"slot_id": str(slot["id"])})
    return hold["id"]


def _ancestry(span, by_id: dict) -> list:
    """The span and its parents, nearest first, as far as they were recorded."""
    chain = [span]
    while chain[-1].parent is not None and chain[-1].parent.span_id in by_id:
        chain.append(by_id[chain[-1].parent.span_id])
    return chain


async def test_a_hold_leaves_one_trace_from_the_gateway_to_the_consumer(gateway: TestClient, stack, exporter):
    appointment_id = await _held_appointment(gateway)
    connection = await asyncpg.connect(stack.database_url)
    try:
        async def recorded() -> bool:
            return bool(await connection.fetchval(
                "SELECT count(*) FROM notifier.notifications WHERE appointment_id = $1", uuid.UUID(appointment_id)))

        await wait_for(recorded, 20, what="the notifier to record the hold")
    finally:
        await connection.close()

    spans = exporter.get_finished_spans()
    [consumed] = [span for span in spans if span.kind == SpanKind.CONSUMER
                  and span.name == "process appointment.locked"
                  and "notifier" in str(span.attributes.get("messaging.consumer.group.name"))]
    trace_id = consumed.context.trace_id
    in_trace = {span.context.span_id: span for span in spans if span.context.trace_id == trace_id}
    chain = _ancestry(consumed, in_trace)

    servers = [span for span in chain if span.kind == SpanKind.SERVER]
    assert len(servers) == 2, [span.name for span in chain]  # booking's, then the gateway's, up the chain
    booking_server, gateway_server = servers
    above_the_door = chain[chain.index(gateway_server) + 1:]
    # Above the gateway's server span only the caller's own request (this test's instrumented HTTP client).
    assert [span.kind for span in above_the_door] == [SpanKind.CLIENT], [span.name for span in above_the_door]
    assert any(span.kind == SpanKind.CLIENT for span in _ancestry(booking_server, in_trace)[1:])  # gateway → booking
    database = [span for span in in_trace.values() if span.attributes.get("db.system") == "postgresql"]
    assert any(booking_server in _ancestry(span, in_trace) for span in database)  # booking's queries, in the trace


async def test_spans_name_their_service_version_and_environment_and_messaging_spans_follow_the_conventions(
    gateway: TestClient, stack, exporter
):
    appointment_id = await _held_appointment(gateway)
    connection = await asyncpg.connect(stack.database_url)
    try:
        event_id = await connection.fetchval(
            "SELECT id FROM booking.outbox WHERE event_type = 'appointment.locked' "
            "AND envelope->'payload'->>'appointment_id' = $1", appointment_id)
    finally:
        await connection.close()
    assert event_id is not None

    async def consumed():
        return [span for span in exporter.get_finished_spans() if span.kind == SpanKind.CONSUMER
                and span.attributes.get("messaging.message.id") == str(event_id)
                and "notifier" in str(span.attributes.get("messaging.consumer.group.name"))] or None

    [consumer] = await wait_for(consumed, 20, what="the notifier's consumer span of the hold")
    spans = exporter.get_finished_spans()
    by_id = {span.context.span_id: span for span in spans}
    producer = by_id[consumer.parent.span_id]

    assert consumer.resource.attributes["service.name"] == "smartslot-trace-chain"
    assert consumer.resource.attributes["service.version"] == importlib.metadata.version("smartslot-common")
    assert consumer.resource.attributes["deployment.environment.name"] == "test"
    assert producer.kind == SpanKind.PRODUCER
    assert producer.name == "publish appointment.locked"
    assert {key: producer.attributes[key] for key in ("messaging.system", "messaging.operation.type",
                                                      "messaging.operation.name")} == {
        "messaging.system": "rabbitmq", "messaging.operation.type": "send", "messaging.operation.name": "publish"}
    assert producer.attributes["messaging.destination.name"].endswith("events")
    assert producer.attributes["messaging.message.id"] == consumer.attributes["messaging.message.id"]
    assert {key: consumer.attributes[key] for key in ("messaging.system", "messaging.operation.type",
                                                      "messaging.operation.name")} == {
        "messaging.system": "rabbitmq", "messaging.operation.type": "process", "messaging.operation.name": "process"}
    assert consumer.attributes["messaging.destination.name"] == producer.attributes["messaging.destination.name"]
    assert "messaging.operation" not in consumer.attributes  # the deprecated attribute is gone


async def test_a_traced_request_is_the_exemplar_of_its_latency_in_openmetrics(gateway: TestClient, exporter):
    await _held_appointment(gateway)
    holds = [span for span in exporter.get_finished_spans()
             if span.kind == SpanKind.SERVER and span.attributes.get("http.route") == "/v1/holds"]
    traces = {format(span.context.trace_id, "032x") for span in holds}
    assert traces

    async with gateway.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        exposition = await response.text()
    linked = [line for line in exposition.splitlines()
              if line.startswith("smartslot_http_request_duration_seconds_bucket{")
              and 'route="/v1/holds"' in line and "# {trace_id=" in line]
    exemplars = {line.split('trace_id="')[1].split('"')[0] for line in linked}
    assert exemplars, "no exemplar on the holds route's latency"
    assert exemplars <= traces  # each points to a trace that was recorded

    async with gateway.get("/metrics") as response:  # the Prometheus text format a plain scraper gets has none
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "# {trace_id=" not in await response.text()
