"""How the waitlist reads booking's answers to a hold."""

from __future__ import annotations

import uuid

import pytest

from waitlist.adapters.booking import HoldRequest, Verdict, classify


@pytest.mark.parametrize(("status", "code", "verdict"), [
    (201, None, Verdict.HELD),
    (409, "slot_held", Verdict.BUSY),
    (409, "slot_unavailable", Verdict.BUSY),  # final only after a few tries (see GONE_CODES)
    (409, "slot_in_past", Verdict.GONE),
    (404, "slot_not_found", Verdict.GONE),
    (422, "idempotency_mismatch", Verdict.GONE),
    (409, "idempotency_in_flight", Verdict.LATER),  # the first send is still running: same key, later
    (404, "not_found", Verdict.LATER),  # a wrong route, not a missing slot
    (500, "internal_error", Verdict.LATER),
    (503, None, Verdict.LATER),
    (429, "rate_limited", Verdict.LATER),
])
def test_verdicts(status: int, code: str | None, verdict: Verdict):
    assert classify(status, code) is verdict


def test_the_body_is_the_same_on_every_send_and_omits_missing_contact():
    request = HoldRequest(uuid.uuid4(), uuid.uuid4(), 300)
    assert request.body() == request.body()
    assert set(request.body()) == {"slot_id", "client_id", "ttl_seconds"}
    named = HoldRequest(uuid.uuid4(), uuid.uuid4(), 300, "a@example.com", "Ana")
    assert named.body()["client_name"] == "Ana"
