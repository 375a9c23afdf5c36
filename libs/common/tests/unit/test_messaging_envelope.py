"""The event envelope: JSON round trip, trace context capture and refusal of bodies that are not envelopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from smartslot_common.messaging import Event, InvalidEnvelope

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7


def _body(**overrides: object) -> bytes:
    """A valid envelope as JSON bytes, with some fields replaced."""
    fields: dict[str, object] = {
        "id": "7d8b2a4e-2f1c-4c35-9a51-0b6f3e9a1c2d",
        "type": "slot.released",
        "version": 1,
        "occurred_at": "2025-03-30T01:30:00+00:00",
        "producer": "booking",
        "correlation_id": None,
        "traceparent": None,
        "payload": {"slot_id": "s1"},
    }
    return orjson.dumps(fields | overrides)


def test_round_trip_keeps_every_field() -> None:
    event = Event.create(
        "appointment.confirmed",
        {"appointment_id": "a1", "starts_at": "2025-03-30T01:30:00+00:00", "seats": 2},
        producer="booking",
        correlation_id="req-42",
    )

    decoded = Event.from_json(event.to_json())

    assert decoded == event
    assert decoded.version == 1
    assert isinstance(decoded.id, UUID)


def test_create_stamps_an_aware_utc_time_of_now() -> None:
    before = datetime.now(UTC)
    event = Event.create("slot.released", {}, producer="booking")

    assert event.occurred_at.tzinfo is not None
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert before <= event.occurred_at <= datetime.now(UTC)


def test_times_with_an_offset_are_normalised_to_utc() -> None:
    body = _body(occurred_at="2025-10-26T02:30:00+02:00")

    occurred_at = Event.from_json(body).occurred_at

    assert occurred_at == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert occurred_at.utcoffset() == timedelta(0)


def test_create_captures_the_current_trace_context() -> None:
    context = SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))

    with trace.use_span(NonRecordingSpan(context)):
        event = Event.create("slot.created", {}, producer="booking")

    assert event.traceparent == f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"
    assert Event.from_json(event.to_json()).traceparent == event.traceparent


def test_create_outside_a_trace_has_no_traceparent() -> None:
    assert Event.create("slot.created", {}, producer="booking").traceparent is None


def test_unknown_fields_from_newer_producers_are_ignored() -> None:
    assert Event.from_json(_body(priority="high")).type == "slot.released"


def test_envelope_is_immutable() -> None:
    event = Event.create("slot.created", {}, producer="booking")

    with pytest.raises(ValueError, match="frozen"):
        event.type = "slot.blocked"  # type: ignore[misc]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe not json", id="not-json"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(orjson.dumps({"type": "slot.released"}), id="missing-fields"),
        pytest.param(_body(occurred_at="2025-03-30T01:30:00"), id="naive-time"),
        pytest.param(_body(id="not-a-uuid"), id="bad-id"),
        pytest.param(_body(payload=[1, 2]), id="payload-not-an-object"),
    ],
)
def test_invalid_bodies_raise_invalid_envelope(body: bytes) -> None:
    with pytest.raises(InvalidEnvelope):
        Event.from_json(body)
