"""RFC 9457 problem details: the one error shape every SmartSlot response uses."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from opentelemetry import trace

PROBLEM_CONTENT_TYPE = "application/problem+json"
# On a 409 to a public claim of a slot (`{slot_id}`), from booking to the gateway only: for this many seconds (a
# decimal) booking answers every such claim of that slot the same (held or full), from memory. The gateway may give
# that answer itself meanwhile; it never relays the header.
REFUSAL_SECONDS_HEADER = "X-SmartSlot-Refusal-Seconds"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    414: "URI too long",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    431: "Request header fields too large",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}

DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    431: "header_fields_too_large",
    500: "internal_error",
    502: "bad_gateway",
    503: "upstream_unavailable",
    504: "upstream_timeout",
}


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem+json body."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        detail: str | None = None,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.status = status
        self.code = code or DEFAULT_CODES.get(status, "error")
        self.title = title or TITLES.get(status, "Error")
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra
        super().__init__(f"{status} {self.code}: {self.detail}")


def current_trace_id() -> str | None:
    """The trace id of the active span, as 32 hex digits, if any."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def problem_body(problem: ProblemError) -> dict[str, Any]:
    """The JSON document of a problem, with the error code as its `type` anchor."""
    body: dict[str, Any] = {
        "type": f"https://smartslot.dev/problems/{problem.code}",
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
        "trace_id": current_trace_id(),
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    body.update(problem.extra)
    return body


def problem_response(problem: ProblemError) -> web.Response:
    """Render a problem as an aiohttp response."""
    return web.Response(
        status=problem.status,
        body=orjson.dumps(problem_body(problem)),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )
