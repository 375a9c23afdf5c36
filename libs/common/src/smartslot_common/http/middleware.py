"""The one middleware every service runs: trace ids, the request id and log context, problem+json for every error,
RED metrics and the access log line, in a single frame per request.

It was four middlewares; measured on the gateway, their frames, a full SDK span per request (sampled out, so nobody
reads it) and label lookups cost more than the proxy hop itself. Now the span is a plain non-recording one carrying
the ids, metric children are resolved once per route, method and status class, and the access line is built only
when INFO is on.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_ID, INVALID_TRACE_ID, NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Histogram

from smartslot_common import metrics
from smartslot_common.errors import dependency_unreachable
from smartslot_common.http.problems import ProblemError, problem_response
from smartslot_common.logging import get_logger

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
log = get_logger(__name__)
_access = logging.getLogger(__name__)  # the level structlog's filter reads; asked before an access line is built
_traceparent = TraceContextTextMapPropagator()


def _route_template(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


def _new_id(bits: int, invalid: int) -> int:
    """A random id, as the SDK's generator makes them (never the invalid all-zero one)."""
    while (value := random.getrandbits(bits)) == invalid:
        pass
    return value


def server_span(headers: Mapping[str, str]) -> NonRecordingSpan:
    """The span a request runs in when no spans are recorded: the caller's W3C trace continued (its sampling flag
    and trace state kept), or a new trace, with a span id of its own."""
    if "traceparent" in headers:
        parent = trace.get_current_span(_traceparent.extract(headers)).get_span_context()
        if parent.is_valid:
            return NonRecordingSpan(SpanContext(parent.trace_id, _new_id(64, INVALID_SPAN_ID), False,
                                                parent.trace_flags, parent.trace_state))
    return NonRecordingSpan(SpanContext(_new_id(128, INVALID_TRACE_ID), _new_id(64, INVALID_SPAN_ID), False,
                                        TraceFlags.get_default()))


def _request_id(request: web.Request) -> str:
    """The caller's request id if it is sane, else a fresh one."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else os.urandom(16).hex()


def _problem_from_http_exception(error: web.HTTPException) -> ProblemError:
    if error.status == 404:
        return ProblemError(404, "not_found", "No such resource.")
    if error.status == 405:
        allowed = error.headers.get("Allow", "")
        return ProblemError(405, detail=f"Allowed methods: {allowed}.", headers={"Allow": allowed})
    if error.status == 413:
        return ProblemError(413, detail="The request body is too large.")
    return ProblemError(error.status, detail=error.reason)


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's response, or the problem+json for whatever it raised (a raised redirect goes on up)."""
    try:
        return await handler(request)
    except ProblemError as problem:
        return problem_response(problem)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return problem_response(_problem_from_http_exception(error))
    except Exception as error:
        cause = dependency_unreachable(error)
        if cause is not None:  # a restart or failover: the caller may try again shortly; not a bug here
            log.warning("dependency_unreachable", method=request.method, path=request.path,
                        error=type(cause).__name__)
            return problem_response(ProblemError(
                503, "upstream_unavailable", "A server this service needs is not answering; try again shortly.",
                headers={"Retry-After": "1"}))
        log.exception("unhandled_error", method=request.method, path=request.path)
        return problem_response(ProblemError(500, "internal_error", "Something went wrong on our side."))


_instruments: dict[tuple[object, str, int], tuple[Counter, Histogram]] = {}


def _count(request: web.Request, status: int, seconds: float, exemplar: dict[str, str] | None) -> None:
    """RED metrics by route template, method and status class; the labelled children looked up once each. The
    duration carries the request's trace id as its exemplar where the trace is recorded."""
    resource = request.match_info.route.resource
    key = (resource, request.method, status // 100)
    instruments = _instruments.get(key)
    if instruments is None:
        route = resource.canonical if resource is not None else "unmatched"
        instruments = _instruments[key] = (
            metrics.HTTP_REQUESTS.labels(route=route, method=request.method, status_class=f"{status // 100}xx"),
            metrics.HTTP_DURATION.labels(route=route, method=request.method),
        )
    instruments[0].inc()
    instruments[1].observe(seconds, exemplar)


def _exemplar(span: trace.Span) -> dict[str, str] | None:
    """The trace id a latency observation points to: only a recorded (exported) trace is worth linking."""
    if not span.is_recording():
        return None
    return {"trace_id": format(span.get_span_context().trace_id, "032x")}


@web.middleware
async def observed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Trace ids (the caller's `traceparent` continued, or a new trace; where spans are recorded the aiohttp server
    instrumentation's span has done this already), the request id (the caller's if sane) on the response and every
    log line, problem+json for every failure, RED metrics, and one access line per request at INFO."""
    span_token, span = None, trace.get_current_span()
    if not span.get_span_context().is_valid:
        span_token = otel_context.attach(trace.set_span_in_context(server_span(request.headers)))
    request_id = request[REQUEST_ID] = _request_id(request)
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started, status = time.perf_counter(), 500
    try:
        response = await _answer(request, handler)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as raised:  # a redirect raised rather than returned; errors are already responses
        status = raised.status
        raised.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        _count(request, status, elapsed, _exemplar(span))
        if _access.isEnabledFor(logging.INFO) and request.path not in QUIET_PATHS:
            log.info("request", method=request.method, route=_route_template(request), status=status,
                     duration_ms=round(elapsed * 1000, 2))
        structlog.contextvars.unbind_contextvars("request_id")
        if span_token is not None:
            otel_context.detach(span_token)
