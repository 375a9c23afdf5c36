"""A lean HTTP/1.1 client for the load driver: the driver shares the machine's two cores with the stack it measures,
so every microsecond it spends per request is taken from the services.

Requests are encoded to bytes once (`prepare`), sent over keep-alive connections kept in a pool per origin (a new
connection only when none is idle), and answered as (status, body bytes). httptools (llhttp, the parser behind
uvicorn) frames the response: Content-Length or chunked bodies, keep-alive or close; no header is copied out.
Plain `http://` on loopback only: no TLS, proxies, redirects, cookies or decompression.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlencode

import httptools

Origin = tuple[str, int]
DEFAULT_TIMEOUT_SECONDS = 60.0
# Idle connections kept per origin: enough for any open-loop scenario's concurrency here, while the thousands a storm
# opens are closed once answered (as its clients would), not held open into the next scenario.
DEFAULT_MAX_IDLE = 1024
QUERY_SAFE = ":/?@"  # left as they are in a query value, as aiohttp (yarl) sends them: the same bytes on the wire


class ServerDisconnected(ConnectionError):
    """The server closed the connection before its answer was complete."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request ready to send: where to, and its bytes on the wire."""

    origin: Origin
    raw: bytes


def split_url(url: str) -> tuple[Origin, str]:
    """`http://host:port/path?query` → ((host, port), "/path?query")."""
    if not url.startswith("http://"):
        raise ValueError(f"only plain http:// URLs are supported: {url!r}")
    authority, slash, rest = url[len("http://"):].partition("/")
    host, colon, port = authority.rpartition(":")
    if not colon:
        host, port = authority, "80"
    return (host, int(port)), slash + rest or "/"


def encode(method: str, origin: Origin, target: str, body: bytes = b"",
           headers: dict[str, str] | None = None) -> bytes:
    """An HTTP/1.1 request: request line, Host, the given headers, Content-Length when there is a body (or the method
    carries one), then the body."""
    host, port = origin
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, its answer parsed as the bytes arrive."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self.reusable = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # bytes nobody asked for: this connection cannot be trusted any more
            self._fail(ServerDisconnected("unexpected bytes from the server"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(error)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._transport = None
        self._settle(ServerDisconnected("the server closed the connection" + (f": {exc}" if exc else "")))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.reusable and self._parser.should_keep_alive()
        self._settle((self._parser.get_status_code(), b"".join(self._body)))

    # the client's side
    def exchange(self, raw: bytes, timeout: float) -> asyncio.Future[tuple[int, bytes]]:
        """Send `raw`; the future answers (status, body), or fails on a disconnect, a parse error or the timeout."""
        answer = self._answer = self._loop.create_future()
        self._body = []
        self._timer = self._loop.call_later(timeout, self._time_out)
        assert self._transport is not None
        self._transport.write(raw)
        return answer

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def _time_out(self) -> None:
        self._fail(TimeoutError("no complete answer in time"))

    def _fail(self, error: Exception) -> None:
        self._settle(error)
        if self._transport is not None:
            self._transport.abort()
        self.reusable = False

    def _settle(self, outcome: tuple[int, bytes] | Exception) -> None:
        """Answer the request in flight, if any, once."""
        answer, self._answer = self._answer, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if answer is None or answer.done():
            return
        if isinstance(outcome, Exception):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)


class LeanClient:
    """Keep-alive connection pools by origin; `request` answers (status, body bytes) and never raises on 4xx/5xx.

    Connection errors (refused, reset, closed early), parse errors and timeouts raise: the driver counts them as
    failed requests."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_SECONDS, max_idle: int = DEFAULT_MAX_IDLE) -> None:
        self.timeout, self.max_idle = timeout, max_idle
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self.connections_opened = 0

    def prepare(self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None,
                params: dict[str, str] | None = None) -> Prepared:
        """Encode a request once, to send it (as often as wanted) with `send`."""
        origin, target = split_url(url)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params, safe=QUERY_SAFE)
        return Prepared(origin, encode(method, origin, target, body, headers))

    async def request(self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None,
                      params: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Send one request; its status and body."""
        return await self.send(self.prepare(method, url, body, headers, params))

    async def send(self, request: Prepared) -> tuple[int, bytes]:
        """Send a prepared request on an idle connection to its origin (or a new one); its status and body."""
        connection = self._take_idle(request.origin) or await self._connect(request.origin)
        try:
            answer = await connection.exchange(request.raw, self.timeout)
        except BaseException:
            self._discard(connection)
            raise
        idle = self._idle.setdefault(request.origin, [])
        if connection.reusable and len(idle) < self.max_idle:
            idle.append(connection)
        else:
            self._discard(connection)
        return answer

    async def close(self) -> None:
        """Close every connection."""
        for connection in list(self._open):
            self._discard(connection)
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports run their close callbacks

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def idle_connections(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()  # the most recently used: the fewest connections stay warm
            if connection.reusable:
                return connection
            self._discard(connection)
        return None

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(loop), *origin), self.timeout)
        self._open.add(connection)
        self.connections_opened += 1
        return connection

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)
