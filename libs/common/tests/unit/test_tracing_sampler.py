"""Spans are recorded only where someone reads them; unrecorded ones still carry ids for logs and propagation."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import INVALID_SPAN_ID, INVALID_TRACE_ID

from smartslot_common.tracing import _sampler

TRACE_ID = 0x0123456789ABCDEF0123456789ABCDEF


def decision(recording: bool, ratio: float) -> Decision:
    return _sampler(recording, ratio).should_sample(None, TRACE_ID, "request").decision


def test_without_an_exporter_nothing_is_recorded() -> None:
    assert decision(False, 1.0) is Decision.DROP


@pytest.mark.parametrize(("ratio", "expected"), [(1.0, Decision.RECORD_AND_SAMPLE), (0.0, Decision.DROP)])
def test_with_an_exporter_the_ratio_decides(ratio: float, expected: Decision) -> None:
    assert decision(True, ratio) is expected


def test_an_unrecorded_span_still_has_ids_for_logs_and_traceparent() -> None:
    tracer = TracerProvider(sampler=_sampler(False, 1.0)).get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        context = span.get_span_context()
    assert not span.is_recording()
    assert context.trace_id != INVALID_TRACE_ID
    assert context.span_id != INVALID_SPAN_ID
