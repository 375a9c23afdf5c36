"""Forwarding public calls to the services, with the verified identity and nothing the caller forged.

The identity goes signed for the one request it travels with (method, path and query, the time of signing), with the
key the services verify it with, so nobody else who reaches a service can assert one or re-use one seen on the wire.

Bodies are checked here before any upstream is asked: too large is `413`, not JSON is `415`, malformed is `400`.

Read-your-writes (`adapters/own_writes`): the slot a 2xx answer to a hold, an instant booking or a reschedule names
is remembered for the caller, and the caller's searches carry its recent ones to availability in
`X-SmartSlot-Own-Slots`. Only those three answers are parsed; any other call is relayed untouched. A caller's own
copy of that header is never forwarded (no header is, but the few listed here).

Storm losers (`adapters/refused_slots`): a hold or instant booking of a slot booking has just refused as held or
full, for as long as booking said it keeps refusing it, gets booking's answer from here.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import orjson
from aiohttp import web

from gateway import metrics
from gateway.adapters.own_writes import slot_named
from gateway.adapters.refused_slots import Refusal, claimed_slot
from gateway.adapters.upstreams import UpstreamAnswer, UpstreamUnavailable
from gateway.app_keys import OWN_WRITES, REFUSED_SLOTS, UPSTREAMS
from gateway.entrypoints.auth import CALLER, bearer, require
from gateway.routing import ROUTES, Route
from smartslot_common.http.identity import IDENTITY_KEY, OWN_SLOTS_HEADER
from smartslot_common.http.middleware import REQUEST_ID, REQUEST_ID_HEADER
from smartslot_common.http.problems import PROBLEM_CONTENT_TYPE, REFUSAL_SECONDS_HEADER, ProblemError, current_trace_id
from smartslot_common.http.relays import relaying
from smartslot_common.tracing import trace_headers

IDEMPOTENCY_KEY = "Idempotency-Key"
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", IDEMPOTENCY_KEY)
RETURNED_HEADERS = ("Content-Type", "Retry-After", "Location", "Content-Disposition", "ETag", "Idempotent-Replayed")
KEPT_HEADERS = (*RETURNED_HEADERS, REFUSAL_SECONDS_HEADER)  # read from an upstream's answer; only the first relayed
METHODS_WITH_BODIES = frozenset({"POST", "PUT", "PATCH"})
LAST_EVENT_ID = "Last-Event-ID"
# Event streams are never cached, and proxies in front are asked not to buffer them.
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Calls whose 2xx answer is an appointment on a slot the caller now holds or booked, and the searches that carry them.
OWN_WRITE_ROUTES = frozenset({("POST", "/v1/holds"), ("POST", "/v1/appointments"),
                              ("POST", "/v1/appointments/{id}/reschedule")})
SEARCH_ROUTES = frozenset({("GET", "/v1/availability")})
# Claims of a seat that booking may refuse for a moment to every client alike (see `adapters/refused_slots`).
CLAIM_ROUTES = frozenset({("POST", "/v1/holds"), ("POST", "/v1/appointments")})


async def checked_body(request: web.Request) -> bytes | None:
    """The body to forward: none for GET/DELETE; otherwise empty or well-formed JSON within the size limit."""
    if request.method not in METHODS_WITH_BODIES:
        return None
    raw = await request.read()  # over `client_max_size`: aiohttp raises 413, rendered as a problem
    if not raw:
        return raw
    if request.content_type != "application/json":
        raise ProblemError(415, detail="Send the body as application/json.")
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ProblemError(400, "malformed_json", f"The body is not valid JSON: {error}.") from None
    return raw


def _unavailable(upstream: str, down: UpstreamUnavailable) -> ProblemError:
    return ProblemError(
        503, "upstream_unavailable", f"The {upstream} service is not answering; try again shortly.",
        headers={"Retry-After": str(max(1, math.ceil(down.retry_after)))},
    )


async def _forwarded_headers(request: web.Request, route: Route, method: str) -> dict[str, str]:
    await require(request, route.roles)
    # The identity comes from the verified token, never from the caller, signed for this method and target alone.
    headers = request.app[IDENTITY_KEY].signed(method, request.rel_url.raw_path_qs, bearer(request).identity_headers)
    for name in FORWARDED_REQUEST_HEADERS:
        if (value := request.headers.get(name)) is not None:
            headers[name] = value
    headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    headers.update(trace_headers())  # the upstream continues this request's trace
    return headers


async def _answer(request: web.Request, route: Route, headers: dict[str, str],
                  body: bytes | None = None) -> UpstreamAnswer:
    if body is None:
        body = await checked_body(request)
    try:
        return await request.app[UPSTREAMS].call(
            route.upstream, request.method, request.rel_url.raw_path_qs, body, headers)
    except UpstreamUnavailable as down:
        raise _unavailable(route.upstream, down) from None


def _relayed(answer: UpstreamAnswer) -> web.Response:
    relayed = {name: answer.headers[name] for name in RETURNED_HEADERS if name in answer.headers}
    return web.Response(status=answer.status, body=answer.body, headers=relayed)


async def forward(request: web.Request, route: Route) -> web.Response:
    """Send the request to its upstream and relay the answer; `503 upstream_unavailable` when it cannot."""
    return _relayed(await _answer(request, route, await _forwarded_headers(request, route, request.method)))


async def forward_own_write(request: web.Request, route: Route) -> web.Response:
    """A hold, an instant booking or a reschedule: the slot its 2xx answer names is remembered for the caller's
    searches before the answer is relayed."""
    return await _own_write_relayed(request, await _answer(
        request, route, await _forwarded_headers(request, route, request.method)))


async def forward_claim(request: web.Request, route: Route) -> web.Response:
    """A hold or an instant booking: refused here while booking refuses every claim of its slot alike (learnt from
    booking's last such answer), otherwise forwarded as an own write, one claim of a slot at a time."""
    headers = await _forwarded_headers(request, route, request.method)
    body = await checked_body(request)
    slot = claimed_slot(body) if IDEMPOTENCY_KEY not in request.headers else None
    if slot is None:
        return await _own_write_relayed(request, await _answer(request, route, headers, body))
    refused_slots = request.app[REFUSED_SLOTS]
    async with refused_slots.claiming(slot) as refusal:
        if refusal is not None:
            metrics.CLAIMS_REFUSED_HERE.inc()
            return _refused(refusal)
        answer = await _answer(request, route, headers, body)
        if answer.status == 409 and (seconds := answer.headers.get(REFUSAL_SECONDS_HEADER)):
            refused_slots.learn(slot, seconds, answer.status, answer.body)
    return await _own_write_relayed(request, answer)


async def _own_write_relayed(request: web.Request, answer: UpstreamAnswer) -> web.Response:
    if 200 <= answer.status < 300 and (slot := slot_named(answer.body)) is not None:
        await request.app[OWN_WRITES].note(request[CALLER].user_id, slot)
    return _relayed(answer)


def _refused(refusal: Refusal) -> web.Response:
    """Booking's answer given again, with this request's trace."""
    document = refusal.document | {"trace_id": current_trace_id()}
    return web.Response(status=refusal.status, body=orjson.dumps(document), content_type=PROBLEM_CONTENT_TYPE)


async def forward_search(request: web.Request, route: Route) -> web.Response:
    """A search, carrying the slots the caller held or booked moments ago (none: one dict lookup)."""
    headers = await _forwarded_headers(request, route, request.method)
    if (own := request.app[OWN_WRITES].slots_of(request[CALLER].user_id)) is not None:
        headers[OWN_SLOTS_HEADER] = own
    return _relayed(await _answer(request, route, headers))


async def forward_stream(request: web.Request, route: Route) -> web.StreamResponse:
    """A server-sent event stream, relayed chunk by chunk as the upstream writes it (never buffered)."""
    headers = await _forwarded_headers(request, route, "GET")
    if (last := request.headers.get(LAST_EVENT_ID)) is not None:
        headers[LAST_EVENT_ID] = last
    try:
        async with request.app[UPSTREAMS].stream(route.upstream, "GET", request.rel_url.raw_path_qs, None,
                                                 headers) as answer:
            relayed = {name: answer.headers[name] for name in RETURNED_HEADERS if name in answer.headers}
            if answer.status != 200:  # a problem: small, relayed whole
                return web.Response(status=answer.status, body=await answer.read(), headers=relayed)
            return await relay(request, answer, relayed | STREAM_HEADERS)
    except UpstreamUnavailable as down:
        raise _unavailable(route.upstream, down) from None


async def relay(request: web.Request, answer: aiohttp.ClientResponse, headers: Mapping[str, str],
                status: int = 200) -> web.StreamResponse:
    """Write the upstream's body to the caller as it arrives; a caller who leaves ends it."""
    response = web.StreamResponse(status=status, headers=headers)
    await response.prepare(request)
    try:
        with relaying(request, answer):  # ended when the gateway shuts down
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the caller left
    except (aiohttp.ClientError, TimeoutError):
        pass  # the upstream broke off or went quiet: end the stream here; an event stream resumes by its last id
    return response


def _handler(route: Route) -> Handler:
    if route.stream:
        async def handle_stream(request: web.Request) -> web.StreamResponse:
            return await forward_stream(request, route)

        return handle_stream

    call = forward
    if (route.method, route.path) in CLAIM_ROUTES:
        call = forward_claim
    elif (route.method, route.path) in OWN_WRITE_ROUTES:
        call = forward_own_write
    elif (route.method, route.path) in SEARCH_ROUTES:
        call = forward_search

    async def handle(request: web.Request) -> web.Response:
        return await call(request, route)

    return handle


def add_proxy_routes(app: web.Application) -> None:
    """Register every proxied public call."""
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _handler(route))
