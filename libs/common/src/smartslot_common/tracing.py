"""OpenTelemetry set-up: OTLP/HTTP export when configured, in-memory in tests."""

from __future__ import annotations

import warnings

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased

_configured: TracerProvider | None = None


def configure_tracing(
    service: str, otlp_endpoint: str | None = None, sample_ratio: float = 1.0, record: bool | None = None
) -> TracerProvider:
    """Install the process-wide tracer provider once; export over OTLP/HTTP when an endpoint is given.

    Spans are recorded only where someone reads them (an exporter, or `record=True` for in-memory capture), for
    `sample_ratio` of the traces that start here; a caller's sampling decision is followed. Only then are the
    libraries (aiohttp, asyncpg, Redis) instrumented. Either way every request and event has trace and span ids:
    logs keep their `trace_id` and `traceparent` still travels with requests and events.
    """
    global _configured
    if _configured is not None:
        return _configured
    recording = bool(otlp_endpoint) if record is None else record
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"smartslot-{service}"}), sampler=_sampler(recording, sample_ratio)
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter: SpanExporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if recording:
        # The libraries' instrumentation costs its spans even unrecorded (measured: over 40 % of the gateway's CPU
        # per request); without a reader, the `observed` middleware and `trace_headers` keep the ids alone.
        _instrument_libraries()
    _configured = provider
    return provider


def _sampler(recording: bool, sample_ratio: float) -> Sampler:
    return ParentBased(TraceIdRatioBased(sample_ratio) if recording else ALWAYS_OFF)


def in_memory_tracing(service: str = "test") -> InMemorySpanExporter:
    """Capture finished spans in memory (tests); safe to call more than once."""
    provider = configure_tracing(service, record=True)
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
    # The instrumentation's constructor carries no annotations (the package types the rest).
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument()


def trace_headers() -> dict[str, str]:
    """The W3C trace context of the current span as HTTP headers, for a call to another service."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def tracer(name: str) -> trace.Tracer:
    """A tracer for manual spans."""
    return trace.get_tracer(name)
