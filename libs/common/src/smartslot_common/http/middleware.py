"""Middlewares: trace ids, request id and log context, problem+json for every error, RED metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from opentelemetry import propagate, trace

from smartslot_common import metrics
from smartslot_common.http.problems import ProblemError, problem_response
from smartslot_common.logging import get_logger

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)
log = get_logger(__name__)


def _route_template(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_tracer = trace.get_tracer(__name__)


@web.middleware
async def trace_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Trace ids for the request's logs, problems and events: the caller's trace (W3C `traceparent`) continued, or a
    new one. Where the aiohttp instrumentation is on (spans recorded), its server span has done this already."""
    if trace.get_current_span().get_span_context().is_valid:
        return await handler(request)
    with _tracer.start_as_current_span(request.method, context=propagate.extract(request.headers),
                                       kind=trace.SpanKind.SERVER):
        return await handler(request)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id (the caller's, if sane), bind it to every log line, and log the request once."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=request_id)
    request[REQUEST_ID] = request_id
    started, status = time.perf_counter(), 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as raised:  # a redirect raised rather than returned; errors are already responses
        status = raised.status
        raised.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        if request.path not in QUIET_PATHS:
            log.info("request", method=request.method, route=_route_template(request), status=status,
                     duration_ms=round((time.perf_counter() - started) * 1000, 2))
        structlog.contextvars.unbind_contextvars("request_id")


def _problem_from_http_exception(error: web.HTTPException) -> ProblemError:
    if error.status == 404:
        return ProblemError(404, "not_found", "No such resource.")
    if error.status == 405:
        allowed = error.headers.get("Allow", "")
        return ProblemError(405, detail=f"Allowed methods: {allowed}.", headers={"Allow": allowed})
    if error.status == 413:
        return ProblemError(413, detail="The request body is too large.")
    return ProblemError(error.status, detail=error.reason)


@web.middleware
async def problem_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into application/problem+json; never leak a traceback."""
    try:
        return await handler(request)
    except ProblemError as problem:
        return problem_response(problem)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return problem_response(_problem_from_http_exception(error))
    except Exception:
        log.exception("unhandled_error", method=request.method, path=request.path)
        return problem_response(ProblemError(500, "internal_error", "Something went wrong on our side."))


@web.middleware
async def red_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count requests and time them by route template, method and status class."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as raised:  # a redirect raised rather than returned is not a server error
        status = raised.status
        raise
    finally:
        route = _route_template(request)
        labels = {"route": route, "method": request.method, "status_class": f"{status // 100}xx"}
        metrics.HTTP_REQUESTS.labels(**labels).inc()
        metrics.HTTP_DURATION.labels(route=route, method=request.method).observe(time.perf_counter() - started)
