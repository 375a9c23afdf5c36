"""Booking's HTTP edges without a server: domain errors → status and code, request bodies → 422 on bad input."""

from __future__ import annotations

import uuid
from datetime import time

import pytest
from pydantic import ValidationError

from booking.domain import errors
from booking.entrypoints import schemas
from booking.entrypoints.errors import to_problem

SERVICE = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.NotFound, 404, "not_found"),
        (errors.SlotNotFound, 404, "slot_not_found"),
        (errors.SlotHeld, 409, "slot_held"),
        (errors.SlotUnavailable, 409, "slot_unavailable"),
        (errors.SlotInPast, 409, "slot_in_past"),
        (errors.SlotOverlap, 409, "slot_overlap"),
        (errors.InvalidTransition, 409, "invalid_transition"),
        (errors.HoldExpired, 410, "hold_expired"),
        (errors.HoldQuota, 429, "hold_quota"),
        (errors.InvalidSchedule, 422, "validation_error"),
        (errors.IdempotencyMismatch, 422, "idempotency_mismatch"),
        (errors.IdempotencyInFlight, 409, "idempotency_in_flight"),
        (errors.NoProviderAvailable, 409, "no_provider_available"),
        (errors.ConflictingAppointments, 409, "conflicting_appointments"),
        (errors.BookingError, 409, "conflict"),
    ],
)
def test_each_domain_error_has_its_public_status_and_code(
    error: type[errors.BookingError], status: int, code: str
) -> None:
    problem = to_problem(error("what happened"))
    assert (problem.status, problem.code, problem.detail) == (status, code, "what happened")


def test_extra_fields_of_a_domain_error_reach_the_problem_body() -> None:
    problem = to_problem(errors.SlotUnavailable("taken", suggestions=["a", "b"]))
    assert problem.extra == {"suggestions": ["a", "b"]}


def test_every_error_code_is_one_the_api_lists() -> None:
    documented = {
        "validation_error", "unauthorized", "invalid_credentials", "email_taken", "not_found", "slot_not_found",
        "slot_held", "slot_in_past", "slot_unavailable", "slot_overlap", "no_provider_available", "hold_expired",
        "hold_quota", "invalid_transition", "conflicting_appointments", "idempotency_mismatch",
        "idempotency_in_flight", "rate_limited", "upstream_unavailable",
    }
    leaves = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.BookingError)]
    assert {cls.code for cls in leaves if cls is not errors.BookingError} <= documented


def fields_of(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in item["loc"]) for item in error.errors()}


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kathmandu"])
def test_a_clinic_accepts_iana_zones(zone: str) -> None:
    assert schemas.CreateClinic(name="Mitte", timezone=zone).timezone == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "CEST", "", "../../etc/passwd", "Europe/Berlin "])
def test_a_clinic_refuses_anything_else(zone: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        schemas.CreateClinic(name="Mitte", timezone=zone)
    assert fields_of(invalid.value) == {"timezone"}


@pytest.mark.parametrize(
    "policy",
    [
        {"kind": "flexible"},
        {"kind": "strict", "window_hours": 24, "fee_percent": 50},
        {"kind": "tiered", "tiers": [{"within_hours": 2, "fee_percent": 100}, {"within_hours": 24, "fee_percent": 50}]},
    ],
)
def test_the_three_documented_cancellation_policies_are_accepted(policy: dict[str, object]) -> None:
    service = schemas.CreateService(
        name="Check-up", duration_minutes=30, price_cents=5000, currency="EUR", cancellation_policy=policy
    )
    assert service.model_dump(mode="json")["cancellation_policy"]["kind"] == policy["kind"]


@pytest.mark.parametrize(
    "policy",
    [{"kind": "lenient"}, {"kind": "strict", "fee_percent": 150}, {"kind": "tiered", "tiers": []}, {}],
)
def test_other_cancellation_policies_are_refused(policy: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        schemas.CreateService(
            name="Check-up", duration_minutes=30, price_cents=5000, currency="EUR", cancellation_policy=policy
        )


def test_a_slot_needs_a_time_zone_on_its_start() -> None:
    with pytest.raises(ValidationError) as invalid:
        schemas.CreateSlot(service_id=SERVICE, starts_at="2026-05-04T09:00:00")
    assert fields_of(invalid.value) == {"starts_at"}


def test_a_working_hours_rule_reads_local_hh_mm() -> None:
    rule = schemas.WorkingHoursRuleIn(weekday=0, start="09:00", end="17:30", service_id=SERVICE)
    assert (rule.start, rule.end) == (time(9), time(17, 30))


@pytest.mark.parametrize(("start", "end"), [("17:00", "09:00"), ("09:00", "09:00")])
def test_a_working_hours_rule_must_end_after_it_starts(start: str, end: str) -> None:
    with pytest.raises(ValidationError):
        schemas.WorkingHoursRuleIn(weekday=0, start=start, end=end, service_id=SERVICE)


@pytest.mark.parametrize("weekday", [-1, 7])
def test_weekday_is_zero_to_six(weekday: int) -> None:
    with pytest.raises(ValidationError):
        schemas.WorkingHoursRuleIn(weekday=weekday, start="09:00", end="10:00", service_id=SERVICE)


def test_two_rules_for_the_same_weekday_and_start_are_refused() -> None:
    rule = {"weekday": 2, "start": "09:00", "end": "12:00", "service_id": SERVICE}
    with pytest.raises(ValidationError):
        schemas.SetWorkingHours(rules=[rule, {**rule, "end": "10:00"}])
    assert len(schemas.SetWorkingHours(rules=[rule, {**rule, "weekday": 3}]).rules) == 2


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as invalid:
        schemas.HoldRequest(slot_id=SERVICE, provider="x")
    assert fields_of(invalid.value) == {"provider"}
