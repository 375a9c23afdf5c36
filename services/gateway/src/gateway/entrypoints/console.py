"""The web console behind the one public address: every path outside `/v1`, `/docs` and the operator routes goes to
the console service, streamed both ways it matters (its live pages are server-sent events).

The console checks its own session; the gateway adds no identity here (a console page carries no bearer token, and
the console calls `/v1` like any client). What the browser sends is filtered to what pages need, the gateway says
itself how the page was reached (X-Forwarded-*: a caller's own are dropped), and the URL is always the console's own
address plus the path: nothing a user sends can make the gateway call another host.
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

from gateway.adapters.upstreams import UpstreamUnavailable
from gateway.app_keys import UPSTREAMS
from gateway.domain.forwarded import forwarded_node
from gateway.entrypoints.client_address import client_address
from gateway.entrypoints.proxy import relay
from smartslot_common.http.middleware import REQUEST_ID, REQUEST_ID_HEADER
from smartslot_common.http.problems import ProblemError

UPSTREAM = "console"
FORWARDED_REQUEST_HEADERS = (
    "Accept", "Accept-Language", "Content-Type", "Cookie", "Referer", "Origin", "Last-Event-ID", "If-None-Match",
    "If-Modified-Since", "HX-Request", "HX-Current-URL", "HX-Target", "HX-Trigger", "HX-Boosted", "X-CSRF-Token",
)
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                        "proxy-authenticate", "proxy-authorization", "content-length"})
RESERVED_PREFIXES = ("/v1/", "/docs/")
RESERVED_PATHS = frozenset({"/v1", "/docs", "/healthz", "/readyz", "/metrics"})


def _headers(request: web.Request) -> dict[str, str]:
    headers = {name: value for name in FORWARDED_REQUEST_HEADERS if (value := request.headers.get(name)) is not None}
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    # The client as this gateway resolved it (a caller's own chain is not passed on). The console appends the
    # gateway's address when it calls the API on the client's behalf, so a gateway that trusts both (local stack,
    # compose, the cluster's pod range) counts a console sign-in against the client's own allowance.
    client = client_address(request)
    headers["X-Forwarded-For"] = client
    headers["Forwarded"] = f"for={forwarded_node(client)}"
    headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    return headers


async def _refuse_as_the_api(request: web.Request) -> None:
    """What the API answers a path of its own it does not serve: `405` with Allow when the path exists with other
    methods, else `404`."""
    allowed: set[str] = set()
    own = request.match_info.route.resource
    for resource in request.app.router.resources():
        if resource is not own:
            _, methods = await resource.resolve(request)
            allowed |= methods
    if allowed:
        listed = ", ".join(sorted(allowed))
        raise ProblemError(405, detail=f"Allowed methods: {listed}.", headers={"Allow": listed})
    raise ProblemError(404, "not_found", "No such resource.")


async def console_page(request: web.Request) -> web.StreamResponse:
    """Relay one console request; the API's own paths never reach the console (unknown ones are `404` problems)."""
    path = request.rel_url.path
    if path in RESERVED_PATHS or path.startswith(RESERVED_PREFIXES):
        await _refuse_as_the_api(request)
    body = await request.read() if request.body_exists else None
    try:
        async with request.app[UPSTREAMS].stream(UPSTREAM, request.method, request.rel_url.raw_path_qs, body,
                                                 _headers(request)) as answer:
            # A multidict: Set-Cookie may come more than once.
            headers = CIMultiDict((name, value) for name, value in answer.headers.items()
                                  if name.lower() not in HOP_BY_HOP)
            return await relay(request, answer, headers, answer.status)
    except UpstreamUnavailable as down:
        raise ProblemError(503, "upstream_unavailable", "The web console is not answering; try again shortly.",
                           headers={"Retry-After": str(max(1, round(down.retry_after)))}) from None


def add_console_routes(app: web.Application) -> None:
    """Register the console's pages: `/` and, last of every route, any other path."""
    app.router.add_get("/", console_page)
    app.router.add_route("*", "/{page:.+}", console_page)
