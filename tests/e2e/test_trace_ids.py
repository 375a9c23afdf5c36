"""Trace ids without a trace collector: a caller's W3C `traceparent` is continued through the gateway into the
service that answers, so the problem a client quotes to support names the trace it started."""

from __future__ import annotations

import secrets
import uuid

import pytest

from smartslot_common.api_client import ApiClient

pytestmark = pytest.mark.e2e


async def test_the_callers_trace_reaches_the_upstream_that_answers(api: ApiClient, admin_token: str) -> None:
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-00"

    answer = await api.call("GET", f"/v1/appointments/{uuid.uuid4()}", admin_token,
                            headers={"traceparent": traceparent})

    assert answer.status == 404
    assert answer.body["code"] == "not_found"
    assert answer.body["trace_id"] == trace_id


async def test_without_a_traceparent_every_answer_gets_a_trace_of_its_own(api: ApiClient, admin_token: str) -> None:
    first = await api.call("GET", f"/v1/appointments/{uuid.uuid4()}", admin_token)
    second = await api.call("GET", f"/v1/appointments/{uuid.uuid4()}", admin_token)

    ids = {first.body["trace_id"], second.body["trace_id"]}
    assert len(ids) == 2
    assert all(isinstance(value, str) and len(value) == 32 for value in ids)
