"""The OpenAPI document: checked in and current, valid OpenAPI 3.1, and in step with what the gateway serves."""

from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate

from gateway.app import create_app
from gateway.openapi.generate import DOCUMENT_PATH, build_document, error_codes, render
from gateway.routing import OWN_ROUTES, ROUTES
from gateway.settings import GatewaySettings

SECRET = "unit-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> dict:
    return build_document()


def test_the_checked_in_document_is_a_fresh_generation(document: dict) -> None:
    assert DOCUMENT_PATH.read_text() == render(document), "run: python -m gateway.openapi"


def test_the_document_is_valid_openapi_3_1(document: dict) -> None:
    assert document["openapi"].startswith("3.1")
    validate(json.loads(DOCUMENT_PATH.read_text()))


def _documented(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item if method in METHODS}


def test_every_routed_call_is_documented_and_nothing_else(document: dict) -> None:
    assert _documented(document) == {(route.method, route.path) for route in ROUTES + OWN_ROUTES}


def test_every_call_the_gateway_serves_is_documented(document: dict) -> None:
    app = create_app(GatewaySettings(jwt_secret=SECRET, database_url="postgresql://nobody@127.0.0.1:1/none"))
    served = {
        (route.method, route.resource.canonical) for route in app.router.routes()
        if route.resource is not None and route.method in {m.upper() for m in METHODS}
        and not route.resource.canonical.startswith("/docs/static")
    }
    assert served == _documented(document)


def test_problems_are_documented_for_every_error_status(document: dict) -> None:
    for path, item in document["paths"].items():
        for method, op in item.items():
            for status, answer in op["responses"].items():
                if int(status) >= 400 and path != "/readyz":
                    assert "application/problem+json" in answer["content"], (method, path, status)
                    assert answer["content"]["application/problem+json"]["schema"] == {
                        "$ref": "#/components/schemas/Problem"}


def test_authenticated_calls_need_the_bearer_scheme_and_public_ones_do_not(document: dict) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    ops = {(m.upper(), p): op for p, item in document["paths"].items() for m, op in item.items()}
    for route in ROUTES + OWN_ROUTES:
        expected = [] if route.public else [{"bearerAuth": []}]
        assert ops[(route.method, route.path)]["security"] == expected, route.path


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/holds"), ("POST", "/v1/appointments"), ("POST", "/v1/appointments/{id}/confirm"),
    ("POST", "/v1/appointments/{id}/cancel"), ("POST", "/v1/appointments/{id}/complete"),
    ("POST", "/v1/appointments/{id}/no-show"),
    ("POST", "/v1/appointments/{id}/reschedule"),
])
def test_appointment_changing_posts_take_an_idempotency_key(document: dict, method: str, path: str) -> None:
    names = [parameter["name"] for parameter in document["paths"][path][method.lower()].get("parameters", [])]
    assert "Idempotency-Key" in names


@pytest.mark.parametrize("path", ["/v1/services", "/v1/clinics", "/v1/providers", "/v1/appointments",
                                  "/v1/notifications", "/v1/waitlist", "/v1/admin/users"])
def test_lists_take_limit_and_cursor_and_answer_items_and_next_cursor(document: dict, path: str) -> None:
    op = document["paths"][path]["get"]
    names = {parameter["name"] for parameter in op["parameters"]}
    assert {"limit", "cursor"} <= names
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"items", "next_cursor"} <= set(document["components"]["schemas"][ref]["properties"])


def test_every_error_code_of_the_api_document_appears_somewhere(document: dict) -> None:
    api_codes = {"validation_error", "unauthorized", "invalid_credentials", "email_taken", "not_found",
                 "slot_not_found", "slot_held", "slot_in_past", "slot_unavailable", "slot_overlap",
                 "no_provider_available", "hold_expired", "hold_quota", "invalid_transition",
                 "conflicting_appointments", "idempotency_mismatch", "idempotency_in_flight", "rate_limited",
                 "upstream_unavailable"}
    text = json.dumps(document)
    assert {code for code in api_codes if f"`{code}`" not in text} == set()


def test_proxied_calls_document_503_and_body_calls_document_415_and_413() -> None:
    for route in ROUTES:
        codes = error_codes(route)
        assert "upstream_unavailable" in codes
        if route.doc.body:
            assert {"unsupported_media_type", "payload_too_large", "malformed_json"} <= set(codes)


def test_path_parameters_match_the_template(document: dict) -> None:
    for path, item in document["paths"].items():
        for op in item.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path


def _query_parameter(document: dict, path: str, name: str) -> dict:
    (parameter,) = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    return parameter["schema"]


def test_every_call_documents_the_414_and_431_of_an_oversized_request(document: dict) -> None:
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert {"414", "431"} <= op["responses"].keys(), f"{method.upper()} {path}"


def test_lists_document_a_non_empty_cursor_and_an_integer_limit(document: dict) -> None:
    for path in ("/v1/services", "/v1/clinics", "/v1/providers", "/v1/appointments", "/v1/waitlist",
                 "/v1/notifications", "/v1/admin/webhooks", "/v1/admin/webhooks/{id}/deliveries"):
        cursor = _query_parameter(document, path, "cursor")
        assert (cursor["type"], cursor["minLength"], cursor["pattern"]) == ("string", 1, "^[A-Za-z0-9_-]+={0,2}$"), path
        assert _query_parameter(document, path, "limit")["type"] == "integer", path
    assert _query_parameter(document, "/v1/admin/users", "cursor") == {"format": "uuid", "title": "Cursor",
                                                                        "type": "string"}


def test_currencies_and_time_zones_are_enumerated_and_instants_are_patterned(document: dict) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["CreateService"]["properties"]["currency"] == {"$ref": "#/components/schemas/Currency"}
    assert "EUR" in schemas["Currency"]["enum"]
    assert "AAA" not in schemas["Currency"]["enum"]
    assert "Europe/Berlin" in schemas["TimeZone"]["enum"]
    starts_at = schemas["CreateSlot"]["properties"]["starts_at"]
    assert (starts_at["type"], starts_at["format"]) == ("string", "date-time")
    assert re.fullmatch(starts_at["pattern"], "2026-12-01T09:00:00+01:00")
    assert not re.fullmatch(starts_at["pattern"], "0.5")
    assert _query_parameter(document, "/v1/availability", "from")["pattern"] == starts_at["pattern"]


def test_working_hours_read_back_in_the_shape_the_put_takes(document: dict) -> None:
    schemas, item = document["components"]["schemas"], document["paths"]["/v1/providers/{id}/working-hours"]
    answer = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    body = item["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schemas[answer]["required"] == schemas[body]["required"] == ["rules"]
    assert schemas[answer]["properties"]["rules"]["items"] == schemas[body]["properties"]["rules"]["items"]
    assert item["get"]["description"] == item["put"]["description"] == "Roles: admin, provider."
