"""Spans are recorded only where someone reads them; unrecorded ones still carry ids for logs and propagation."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.trace import INVALID_SPAN_ID, INVALID_TRACE_ID, NonRecordingSpan, SpanContext, TraceFlags

from smartslot_common.tracing import TracingSetup, sampler_for

TRACE_ID = 0x0123456789ABCDEF0123456789ABCDEF
# A caller that recorded its part of the trace (traceparent flags 01).
SAMPLED_PARENT = trace.set_span_in_context(NonRecordingSpan(SpanContext(
    TRACE_ID, 0x1234567890ABCDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))))


def sampler(recording: bool, name: str = "parentbased_traceidratio", arg: float = 1.0) -> Sampler:
    return sampler_for(TracingSetup(None, name, arg, {"service.name": "test"}), recording)


def decision(recording: bool, ratio: float, parent: object = None) -> Decision:
    return sampler(recording, arg=ratio).should_sample(parent, TRACE_ID, "request").decision  # type: ignore[arg-type]


def test_without_an_exporter_nothing_is_recorded_even_below_a_recorded_caller() -> None:
    assert decision(False, 1.0) is Decision.DROP
    assert decision(False, 1.0, SAMPLED_PARENT) is Decision.DROP


@pytest.mark.parametrize(("ratio", "expected"), [(1.0, Decision.RECORD_AND_SAMPLE), (0.0, Decision.DROP)])
def test_with_an_exporter_the_ratio_decides(ratio: float, expected: Decision) -> None:
    assert decision(True, ratio) is expected


def test_with_an_exporter_a_recorded_caller_is_followed() -> None:
    assert decision(True, 0.0, SAMPLED_PARENT) is Decision.RECORD_AND_SAMPLE


@pytest.mark.parametrize(("name", "expected"), [
    ("always_on", Decision.RECORD_AND_SAMPLE), ("always_off", Decision.DROP),
    ("parentbased_always_off", Decision.RECORD_AND_SAMPLE),  # the caller recorded: followed
])
def test_the_standard_samplers_by_name(name: str, expected: Decision) -> None:
    assert sampler(True, name).should_sample(SAMPLED_PARENT, TRACE_ID, "request").decision is expected


def test_an_unrecorded_span_still_has_ids_for_logs_and_traceparent() -> None:
    tracer = TracerProvider(sampler=sampler(False)).get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        context = span.get_span_context()
    assert not span.is_recording()
    assert context.trace_id != INVALID_TRACE_ID
    assert context.span_id != INVALID_SPAN_ID
