"""Problem details (RFC 9457): the one error shape every SmartSlot response has."""

from __future__ import annotations

import orjson
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from smartslot_common.http.problems import PROBLEM_CONTENT_TYPE, ProblemError, problem_body, problem_response

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736


def test_a_status_alone_gives_the_standard_code_title_and_detail() -> None:
    body = problem_body(ProblemError(409))

    assert body == {
        "type": "https://smartslot.dev/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "Conflict",
        "code": "conflict",
        "trace_id": None,
    }


def test_code_detail_field_errors_and_extra_members_are_carried() -> None:
    problem = ProblemError(
        409, "slot_held", "Someone else is holding this slot.", errors=[{"field": "slot_id"}], retry_after_seconds=3
    )

    body = problem_body(problem)

    assert body["type"] == "https://smartslot.dev/problems/slot_held"
    assert (body["code"], body["title"]) == ("slot_held", "Conflict")
    assert body["detail"] == "Someone else is holding this slot."
    assert body["errors"] == [{"field": "slot_id"}]
    assert body["retry_after_seconds"] == 3
    assert str(problem) == "409 slot_held: Someone else is holding this slot."


def test_an_unlisted_status_still_gives_a_complete_problem() -> None:
    body = problem_body(ProblemError(418))

    assert (body["status"], body["code"], body["title"], body["detail"]) == (418, "error", "Error", "Error")


def test_the_response_is_problem_json_with_the_problem_headers() -> None:
    response = problem_response(ProblemError(429, detail="Slow down.", headers={"Retry-After": "2"}))

    assert response.status == 429
    assert response.content_type == PROBLEM_CONTENT_TYPE
    assert response.headers["Retry-After"] == "2"
    assert isinstance(response.body, bytes)
    assert orjson.loads(response.body)["code"] == "rate_limited"


def test_inside_a_trace_the_problem_names_the_trace_id_for_support() -> None:
    span = NonRecordingSpan(SpanContext(TRACE_ID, 0x00F067AA0BA902B7, is_remote=True, trace_flags=TraceFlags(1)))

    with trace.use_span(span):
        body = problem_body(ProblemError(500))

    assert body["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
