"""Serving an application so that even a request aiohttp cannot parse gets a problem+json answer.

aiohttp rejects an over-long request line or header, and any other malformed request, in its protocol parser,
before a middleware runs, and answers with a plain-text 400 (its `RequestHandler.handle_error`; no hook for it,
aio-libs/aiohttp#3287). Its low-level server makes one `RequestHandler` per connection, so a server that makes our
subclass instead is the one place to answer those as problems: `414` for the request line, `431` for the headers.
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

from smartslot_common.http.problems import ProblemError, problem_response

# The parser's limits. They differ so that a LineTooLong names which one it hit: the request line (method, target,
# version) or a header line. Headers may carry a long bearer token, so they get the larger allowance.
MAX_REQUEST_LINE_BYTES = 8190
MAX_HEADER_FIELD_BYTES = 16380
MAX_HEADERS = 128
PARSER_LIMITS = {
    "max_line_size": MAX_REQUEST_LINE_BYTES, "max_field_size": MAX_HEADER_FIELD_BYTES, "max_headers": MAX_HEADERS,
}
_TOO_MANY_HEADERS = "Too many headers received"  # the parser's message (C and pure-Python alike)


def protocol_problem(status: int, error: BaseException | None, max_line_size: int) -> ProblemError:
    """The problem that answers a request the server could not take: what the parser or the handler ran into."""
    if isinstance(error, LineTooLong):
        if error.args[1] == max_line_size:
            return ProblemError(414, "uri_too_long", f"The request line is longer than {max_line_size} bytes.")
        return ProblemError(431, "header_fields_too_large",
                            f"A request header is longer than {error.args[1]} bytes.")
    if isinstance(error, BadHttpMessage) and error.message == _TOO_MANY_HEADERS:
        return ProblemError(431, "header_fields_too_large", f"The request has more than {MAX_HEADERS} headers.")
    if isinstance(error, BadHttpMessage):
        return ProblemError(400, "malformed_request", "The request is not valid HTTP/1.1.")
    if status == 504:
        return ProblemError(504, "handler_timeout", "The request took too long to handle.")
    return ProblemError(status if status >= 400 else 500)


class ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what it cannot serve with problem+json instead of plain text."""

    __slots__ = ()

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # its logging, and its refusal once a response began
        response = problem_response(protocol_problem(status, exc, self.max_line_size))
        response.force_close()
        return response


class ProblemServer(web.Server):
    """aiohttp's low-level server with `ProblemRequestHandler` for every connection."""

    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemAppRunner(web.AppRunner):
    """An `AppRunner` whose server answers unparsable requests with problems."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return ProblemServer(
            server.request_handler, request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation, loop=asyncio.get_running_loop(), **server._kwargs,
        )


async def serve(
    app: web.Application, host: str, port: int, *, backlog: int = 128, shutdown_timeout: float = 60.0,
    handle_signals: bool = True,
) -> None:
    """Serve `app` until SIGINT or SIGTERM (when `handle_signals`) or until cancelled, then shut it down: stop
    listening, let the requests in flight finish (up to `shutdown_timeout`), run its cleanup.

    A signal ends the wait here, so the shutdown runs in this task while every other task still runs: the requests
    in flight are answered and each cleanup stops its own work. (aiohttp's own handling raises `GracefulExit` out of
    the loop; `asyncio.Runner` then cancels every task at once, requests and background work included, before and
    while the cleanup runs.)"""
    runner = ProblemAppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    stopping = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    loop = asyncio.get_running_loop()
    for signum in signals:
        loop.add_signal_handler(signum, stopping.set)
    try:
        await web.TCPSite(runner, host, port, backlog=backlog).start()
        await stopping.wait()
    finally:
        try:
            await runner.cleanup()
        finally:  # a second signal during the shutdown changes nothing; after it, the defaults are back
            for signum in signals:
                loop.remove_signal_handler(signum)
