"""OpenTelemetry set-up: OTLP/HTTP export when configured, in-memory in tests.

Operators configure it with the standard OpenTelemetry variables, or with SmartSlot's older names; where both say
something, the standard one wins:

- where to export: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL), else `OTEL_EXPORTER_OTLP_ENDPOINT` (a base
  URL, `/v1/traces` appended), else `SMARTSLOT_OTEL_EXPORTER_OTLP_ENDPOINT` (the same); `OTEL_SDK_DISABLED=true` or
  `OTEL_TRACES_EXPORTER=none` exports nothing. Only OTLP over HTTP (protobuf) is spoken.
- which traces: `OTEL_TRACES_SAMPLER` (`always_on`, `always_off`, `traceidratio`, `parentbased_always_on`,
  `parentbased_always_off`, `parentbased_traceidratio`) with `OTEL_TRACES_SAMPLER_ARG`, else
  `parentbased_traceidratio` at `SMARTSLOT_OTEL_TRACES_SAMPLE_RATIO`.
- the resource: `service.name` `smartslot-<service>`, `service.version` the service package's version and
  `deployment.environment.name` from `SMARTSLOT_ENVIRONMENT`, each overridden by `OTEL_RESOURCE_ATTRIBUTES`, and the
  name by `OTEL_SERVICE_NAME` last.
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased

SAMPLERS = ("always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
            "parentbased_traceidratio")
_TRUE = {"true", "1", "yes", "on"}

_configured: TracerProvider | None = None
_recording = False


@dataclass(frozen=True)
class TracingSetup:
    """What the environment and the settings ask of tracing, resolved."""

    traces_endpoint: str | None  # the OTLP/HTTP traces URL; None: nothing is exported
    sampler: str  # one of SAMPLERS
    sampler_arg: float
    resource: dict[str, str] = field(default_factory=dict)

    @property
    def service_name(self) -> str:
        return self.resource["service.name"]


def resolve_tracing(
    service: str,
    otlp_endpoint: str | None = None,
    sample_ratio: float = 1.0,
    environment: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> TracingSetup:
    """Tracing as the standard OTEL_* variables (first) and SmartSlot's settings (second) describe it.

    Raises ValueError, naming the variable, for a sampler or sampler argument that is not one.
    """
    env = os.environ if environ is None else environ
    return TracingSetup(
        traces_endpoint=_traces_endpoint(env, otlp_endpoint),
        sampler=(sampler := _sampler_name(env)),
        sampler_arg=_sampler_arg(env, sampler, sample_ratio),
        resource=_resource_attributes(env, service, environment),
    )


def _value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _traces_endpoint(env: Mapping[str, str], smartslot_endpoint: str | None) -> str | None:
    if (_value(env, "OTEL_SDK_DISABLED") or "").lower() in _TRUE:
        return None
    if (_value(env, "OTEL_TRACES_EXPORTER") or "otlp").lower() == "none":
        return None
    if full := _value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return full
    base = _value(env, "OTEL_EXPORTER_OTLP_ENDPOINT") or (smartslot_endpoint or "").strip() or None
    return base.rstrip("/") + "/v1/traces" if base else None


def _sampler_name(env: Mapping[str, str]) -> str:
    name = (_value(env, "OTEL_TRACES_SAMPLER") or "parentbased_traceidratio").lower()
    if name not in SAMPLERS:
        raise ValueError(f"OTEL_TRACES_SAMPLER={name!r} is not one of {', '.join(SAMPLERS)}")
    return name


def _sampler_arg(env: Mapping[str, str], sampler: str, sample_ratio: float) -> float:
    """The ratio of a `traceidratio` sampler: OTEL_TRACES_SAMPLER_ARG, else SmartSlot's ratio for SmartSlot's default
    sampler, else the standard's 1.0."""
    text = _value(env, "OTEL_TRACES_SAMPLER_ARG")
    if text is not None:
        return _ratio(text)
    return sample_ratio if _value(env, "OTEL_TRACES_SAMPLER") is None else 1.0


def _ratio(text: str) -> float:
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={text!r} is not a ratio between 0 and 1")
    return ratio


def _resource_attributes(env: Mapping[str, str], service: str, environment: str | None) -> dict[str, str]:
    attributes = {"service.name": f"smartslot-{service}", "service.version": _version(service)}
    if environment:
        attributes["deployment.environment.name"] = environment
    for pair in (_value(env, "OTEL_RESOURCE_ATTRIBUTES") or "").split(","):
        key, equals, value = pair.partition("=")
        if equals and key.strip():
            attributes[unquote(key.strip())] = unquote(value.strip())
    if name := _value(env, "OTEL_SERVICE_NAME"):
        attributes["service.name"] = name
    return attributes


def _version(service: str) -> str:
    for package in (f"smartslot-{service}", "smartslot-common"):
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def configure_tracing(
    service: str,
    otlp_endpoint: str | None = None,
    sample_ratio: float = 1.0,
    record: bool | None = None,
    environment: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> TracerProvider:
    """Install the process-wide tracer provider once; export over OTLP/HTTP when an endpoint is configured.

    Spans are recorded only where someone reads them (an exporter, or `record=True` for in-memory capture), for the
    traces the sampler picks; without a reader nothing is recorded, whatever a caller's trace flags say. Only when
    recording are the libraries (aiohttp, asyncpg, Redis) instrumented. Either way every request and event has trace
    and span ids: logs keep their `trace_id` and `traceparent` still travels with requests and events.
    """
    global _configured, _recording
    if _configured is not None:
        return _configured
    setup = resolve_tracing(service, otlp_endpoint, sample_ratio, environment, environ)
    recording = bool(setup.traces_endpoint) if record is None else record
    provider = TracerProvider(
        resource=Resource.create(setup.resource), sampler=sampler_for(setup, recording)
    )
    if setup.traces_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter: SpanExporter = OTLPSpanExporter(endpoint=setup.traces_endpoint)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if recording:
        # The libraries' instrumentation costs its spans even unrecorded (measured: over 40 % of the gateway's CPU
        # per request); without a reader, the `observed` middleware and `trace_headers` keep the ids alone.
        _instrument_libraries()
    _configured, _recording = provider, recording
    return provider


def recording() -> bool:
    """Whether this process records spans (someone reads them): optional spans are made only then."""
    return _recording


def sampler_for(setup: TracingSetup, recording: bool = True) -> Sampler:
    """The SDK sampler a resolved setup names; without a reader (`recording` False) one that records nothing, even
    below a caller that recorded its part of the trace."""
    if not recording:
        return ALWAYS_OFF
    kind = setup.sampler.removeprefix("parentbased_")
    root: Sampler
    if kind == "always_on":
        root = ALWAYS_ON
    elif kind == "always_off":
        root = ALWAYS_OFF
    else:
        root = TraceIdRatioBased(setup.sampler_arg)
    return ParentBased(root) if setup.sampler.startswith("parentbased_") else root


def in_memory_tracing(service: str = "test", environment: str | None = None) -> InMemorySpanExporter:
    """Capture finished spans in memory (tests); safe to call more than once."""
    provider = configure_tracing(service, record=True, environment=environment, environ={})
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
