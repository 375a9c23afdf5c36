"""Which rate-limit rules a request counts against, and how the admin health document is aggregated."""

from __future__ import annotations

import uuid

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.adapters.tokens import TokenIssuer
from gateway.app_keys import SETTINGS, TOKENS
from gateway.entrypoints.health import aggregate
from gateway.entrypoints.rate_limiting import rules_for
from gateway.settings import GatewaySettings

SECRET = "unit-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
TOKENS_UNDER_TEST = TokenIssuer(SECRET, SECRET, "HS256", "smartslot", "smartslot-api", 900)
SETTINGS_UNDER_TEST = GatewaySettings(jwt_secret=SECRET, rate_limit_user="100/minute", rate_limit_ip="50/minute",
                                      rate_limit_auth="5/minute", rate_limit_booking="10/minute")
USER = uuid.uuid4()


def request(method: str, path: str, token: str | None = None) -> web.Request:
    app = web.Application()
    app[TOKENS], app[SETTINGS] = TOKENS_UNDER_TEST, SETTINGS_UNDER_TEST
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return make_mocked_request(method, path, headers=headers, app=app)


def described(method: str, path: str, token: str | None = None) -> list[tuple[str, int, str]]:
    return [(rule.name, rule.limit.amount, rule.subject.split(":")[0])
            for rule in rules_for(request(method, path, token), SETTINGS_UNDER_TEST)]


def test_an_anonymous_call_is_counted_per_ip() -> None:
    assert described("GET", "/v1/openapi.json") == [("ip", 50, "ip")]


def test_an_authenticated_call_is_counted_per_user() -> None:
    rules = rules_for(request("GET", "/v1/services", TOKENS_UNDER_TEST.issue(USER, "client")), SETTINGS_UNDER_TEST)
    assert [(rule.name, rule.subject) for rule in rules] == [("user", f"user:{USER}")]


def test_an_invalid_token_is_counted_as_anonymous() -> None:
    assert described("GET", "/v1/services", "forged.token.value") == [("ip", 50, "ip")]


@pytest.mark.parametrize("path", ["/v1/auth/token", "/v1/auth/register"])
def test_sign_in_and_registration_are_tighter_per_ip(path: str) -> None:
    assert described("POST", path) == [("auth", 5, "ip"), ("ip", 50, "ip")]


@pytest.mark.parametrize("path", ["/v1/holds", "/v1/appointments"])
def test_holds_and_instant_bookings_are_tighter_per_caller(path: str) -> None:
    rules = described("POST", path, TOKENS_UNDER_TEST.issue(USER, "client"))
    assert rules == [("booking", 10, "user"), ("user", 100, "user")]


def test_reading_appointments_is_not_the_tight_rule() -> None:
    assert [name for name, _, _ in described("GET", "/v1/appointments", TOKENS_UNDER_TEST.issue(USER, "client"))] \
        == ["user"]


# --- admin health -----------------------------------------------------------------------------------------------


def test_everything_ready_is_ok() -> None:
    answers = {
        "gateway": ("ok", {"postgres": "ok", "redis": "ok"}, 1.0),
        "booking": ("ok", {"postgres": "ok", "redis": "ok", "rabbitmq": "ok"}, 2.5),
    }
    assert aggregate(answers) == {
        "status": "ok",
        "services": {"gateway": {"status": "ok", "latency_ms": 1.0}, "booking": {"status": "ok", "latency_ms": 2.5}},
        "dependencies": {"postgres": "ok", "redis": "ok", "rabbitmq": "ok"},
    }


def test_the_worst_report_of_a_dependency_wins_and_a_down_service_degrades_the_whole() -> None:
    answers = {
        "gateway": ("degraded", {"postgres": "ok", "redis": "degraded: refused"}, 1.0),
        "booking": ("ok", {"postgres": "ok", "redis": "down: refused", "rabbitmq": "ok"}, 2.0),
        "notifier": ("down", {}, 1000.0),
    }
    health = aggregate(answers)
    assert health["status"] == "degraded"
    assert health["dependencies"] == {"postgres": "ok", "redis": "down", "rabbitmq": "ok"}
    assert health["services"]["notifier"]["status"] == "down"


def test_a_dependency_nobody_reports_is_unknown() -> None:
    health = aggregate({"gateway": ("ok", {"postgres": "ok"}, 1.0)})
    assert health["dependencies"] == {"postgres": "ok", "redis": "unknown", "rabbitmq": "unknown"}
    assert health["status"] == "degraded"
