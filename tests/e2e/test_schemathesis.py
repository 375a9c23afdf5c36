"""Property-based tests of the whole stack from the gateway's own OpenAPI document, with every check schemathesis
has: no 5xx; status codes, headers, media types and bodies as documented; every request the document allows is
accepted and every one it forbids refused with a 4xx; undocumented methods are 405; auth is enforced.

This runs schemathesis' own engine, as `st run --checks all` does: the coverage phase first (per parameter the
boundaries and the values of a wrong type: `false` for an integer, `0.5` for a timestamp, "" for a cursor, `AAA`
for a currency, a parameter given twice, a method the path does not serve), then the fuzzing phase, valid and
invalid data alike. Bounded to fit in `make test`: a few examples per operation, a fixed seed, no shrinking, a
deadline on each request and on the whole run.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES as NEGATIVE_DATA_REJECTION
from schemathesis.core.failures import Failure
from schemathesis.engine import events
from schemathesis.openapi.checks import RejectedPositiveData

from gateway.routing import ADMIN, OWN_ROUTES, ROUTES, Route
from smartslot_common.api_client import ApiClient

from .conftest import RunningStack

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 8
REQUEST_TIMEOUT_SECONDS = 10
RUN_BUDGET_SECONDS = 90  # about 20 s on an idle machine
WRITES = {  # writes safe to repeat with generated data: none deletes, demotes or changes anything that exists
    ("POST", "/v1/auth/register"), ("POST", "/v1/auth/token"), ("POST", "/v1/holds"), ("POST", "/v1/appointments"),
    ("POST", "/v1/clinics"), ("POST", "/v1/services"), ("POST", "/v1/providers"), ("POST", "/v1/waitlist"),
}
# Found by this test and reported to their owners; remove an entry once fixed, so the operation is fuzzed again.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}
ROUTE_BY_CALL = {(route.method, route.path): route for route in ROUTES + OWN_ROUTES}

# Rules no JSON Schema can state, so `positive_data_acceptance` cannot know them: a schema-valid request may still
# be refused with a 422 that names one of these fields (and only these). Everything else it finds is a failure.
ISSUED_CURSOR = "a cursor is the next_cursor of an earlier page, like an id that must exist"
RANGE = "`from` is not after `to`, and the range is at most the service's maximum span"
WEBHOOK_DESTINATION = "https (http only where allowed), a host that resolves, and only to public addresses"
UNSTATABLE_RULES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/v1/services"): {"cursor": ISSUED_CURSOR},
    ("GET", "/v1/clinics"): {"cursor": ISSUED_CURSOR},
    ("GET", "/v1/providers"): {"cursor": ISSUED_CURSOR},
    ("GET", "/v1/appointments"): {"cursor": ISSUED_CURSOR, "to": RANGE},
    ("GET", "/v1/waitlist"): {"cursor": ISSUED_CURSOR},
    ("GET", "/v1/notifications"): {"cursor": ISSUED_CURSOR},
    ("GET", "/v1/admin/webhooks"): {"cursor": ISSUED_CURSOR},
    ("GET", "/v1/admin/webhooks/{id}/deliveries"): {"cursor": ISSUED_CURSOR},
    ("POST", "/v1/admin/webhooks"): {"url": WEBHOOK_DESTINATION},
    ("PATCH", "/v1/admin/webhooks/{id}"): {"url": WEBHOOK_DESTINATION},
    ("GET", "/v1/availability"): {"to": RANGE},
    ("GET", "/v1/admin/analytics"): {"to": RANGE},
    ("POST", "/v1/services"): {
        "cancellation_policy.tiered": "a tiered policy's ladder is coherent: no window twice, nearer never cheaper",
    },
    ("POST", "/v1/auth/register"): {
        "email": "an address that can receive mail, as email-validator judges it: no special-use domain (.test)",
    },
    ("POST", "/v1/waitlist"): {
        "from": "a window starts before it ends, and a wish for one slot has none (the slot's time is the window)",
        "to": "a window has not ended yet",
    },
}
# An Idempotency-Key sent again with another body is refused (422), as the Idempotency-Key draft says; the fuzzer
# draws keys from a small alphabet and so repeats them, and no schema can say which keys were used before.
STATEFUL_CODES = {"idempotency_mismatch"}
# Text never holds U+0000 (PostgreSQL's text cannot store it), so any string may be refused for it, with this error
# type; the document's string schemas do not say so.
UNSTORABLE_TEXT = "string_nul"


def selected(route: Route) -> bool:
    """Every read and the writes listed; not the event streams, whose answers never end (a fuzzer would wait out its
    timeout on each: tests/e2e/test_streams.py checks them), nor the console's HTML pages."""
    call = (route.method, route.path)
    return ((route.method == "GET" or call in WRITES) and call not in KNOWN_FAILURES and not route.stream
            and route.upstream != "console")


def token_for(route: Route, tokens: dict[str, str]) -> str | None:
    if route.public:
        return None
    return tokens["admin"] if route.roles == ADMIN else tokens["client"]


def route_of(operation: Any) -> Route:
    return ROUTE_BY_CALL[(operation.method.upper(), operation.path)]


def refused_for_an_unstatable_rule(failure: Failure, response: Any, call: tuple[str, str]) -> bool:
    """Whether a schema-valid request was refused only for a rule its schema cannot state (see UNSTATABLE_RULES)."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return False
    try:
        problem = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return False
    if problem.get("code") in STATEFUL_CODES:
        return True
    errors = problem.get("errors") or [{}]
    if all(error.get("type") == UNSTORABLE_TEXT for error in errors):
        return True
    fields = {error.get("field") for error in errors}
    return fields <= UNSTATABLE_RULES.get(call, {}).keys()


def configured(document: dict[str, Any], base_url: str, tokens: dict[str, str]) -> Any:
    """The schema of the selected operations, with every check on, each call signed as a caller it admits."""
    config = SchemathesisConfig.from_dict({
        "seed": 20261204,
        "cache": {"enabled": False},
        "base-url": base_url,
        "request-timeout": REQUEST_TIMEOUT_SECONDS,
        # One worker: Python 3.11.7's compiler is not thread-safe under hypothesis ("AST constructor recursion depth
        # mismatch", CPython gh-106905), and the stack under test shares the machine's two cores anyway.
        "workers": 1,
        "checks": {
            "enabled": True,
            "max_response_time": REQUEST_TIMEOUT_SECONDS,
            # Refusing a request for its size, before reading it (414, 431: documented on every call), refuses it too.
            "negative_data_rejection": {"expected-statuses": [*NEGATIVE_DATA_REJECTION, "414", "431"]},
        },
        "generation": {"mode": "all", "max-examples": EXAMPLES_PER_OPERATION, "no-shrink": True},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
    })
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema = schema.include(lambda ctx: selected(route_of(ctx.operation)))

    @schema.auth(refresh_interval=None)
    class CallerToken:
        def get(self, case: Any, ctx: Any) -> str | None:
            return token_for(route_of(case.operation), tokens)

        def set(self, case: Any, token: str | None, ctx: Any) -> None:
            if token is not None:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    @schema.hook
    def filter_failure(context: Any, failure: Failure, case: Any, response: Any) -> bool:
        return not refused_for_an_unstatable_rule(failure, response, (case.method.upper(), case.operation.path))

    return schema


def failures_of(stream: Iterator[events.EngineEvent]) -> Iterator[str]:
    """Every failed check and every error the run reported, one text each."""
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        yield (f"{event.recorder.label} [{check.name}] {failure.title}\n{failure.message}\n"
                               f"{check.failure_info.code_sample}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            yield f"{getattr(event, 'label', 'run')}: error {event}"
        elif isinstance(event, events.EngineFinished):
            yield from (f"{failure.operation}: {failure.title}\n{failure.message}" for failure in event.failures)
            if event.stop_reason != engine.StopReason.COMPLETED:
                yield f"the run stopped early: {event.stop_reason.value}"


def run_all(document: dict[str, Any], base_url: str, tokens: dict[str, str]) -> list[str]:
    schema = configured(document, base_url, tokens)
    return list(dict.fromkeys(failures_of(iter(engine.from_schema(schema).execute()))))


async def test_the_gateway_keeps_the_promises_of_its_openapi_document(
    api: ApiClient, admin_token: str, running_stack: RunningStack
) -> None:
    document = (await api.call("GET", "/v1/openapi.json")).body
    email, password = f"fuzz-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    assert (await api.register(email, password, "Fuzz")).status == 201
    tokens = {"admin": admin_token, "client": await api.token(email, password)}
    started = time.monotonic()

    failures = await asyncio.to_thread(run_all, document, running_stack.base_url, tokens)

    assert failures == [], "\n\n".join(failure[:3000] for failure in failures)
    assert time.monotonic() - started < RUN_BUDGET_SECONDS, "the run took longer than its budget"


async def test_a_request_too_large_to_read_gets_the_documented_problem(running_stack: RunningStack) -> None:
    url = urlsplit(running_stack.base_url)
    for request, status, code in (
        (f"GET /v1/services?cursor={'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (f"GET /v1/services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {'a' * 17000}\r\n\r\n", 431,
         "header_fields_too_large"),
    ):
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write(request.encode())
        answer = await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT_SECONDS)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ", 2)[1] == str(status).encode()
        assert b"content-type: application/problem+json" in head.lower()
        problem = orjson.loads(body)
        assert (problem["status"], problem["code"]) == (status, code)
