"""OpenTelemetry set-up: OTLP/HTTP export when configured, in-memory in tests."""

from __future__ import annotations

import warnings

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_configured: TracerProvider | None = None


def configure_tracing(service: str, otlp_endpoint: str | None = None) -> TracerProvider:
    """Install the process-wide tracer provider once; export over OTLP/HTTP when an endpoint is given."""
    global _configured
    if _configured is not None:
        return _configured
    provider = TracerProvider(resource=Resource.create({"service.name": f"smartslot-{service}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter: SpanExporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _instrument_libraries()
    _configured = provider
    return provider


def in_memory_tracing(service: str = "test") -> InMemorySpanExporter:
    """Capture finished spans in memory (tests); safe to call more than once."""
    provider = configure_tracing(service)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    AioHttpClientInstrumentor().instrument()
    with warnings.catch_warnings():
        # The server instrumentation subclasses web.Application, which aiohttp discourages with a warning.
        warnings.simplefilter("ignore", DeprecationWarning)
        AioHttpServerInstrumentor().instrument()
    AsyncPGInstrumentor().instrument()
    RedisInstrumentor().instrument()


def tracer(name: str) -> trace.Tracer:
    """A tracer for manual spans."""
    return trace.get_tracer(name)
