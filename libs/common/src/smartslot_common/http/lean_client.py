"""A lean HTTP/1.1 client for calls inside the deployment: the gateway's calls to the services, and the load driver
(which shares the machine's cores with the stack it measures). aiohttp's client costs about 60 µs per call on this
machine, a third of the gateway's CPU per request; this one about 15 µs.

Requests are encoded to bytes once (`prepare`), sent over keep-alive connections kept in a pool per origin (a new
connection only when none is idle, at most `max_connections` at once when set), and answered with their status, body
and the headers the client was asked to keep. httptools (llhttp, the parser behind uvicorn) frames the response:
Content-Length or chunked bodies, keep-alive or close. Plain `http://` only: no TLS, proxies, redirects, cookies or
decompression — which is all a call between services on a private network needs.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class Answer:
    """A response: its status, its body, and the headers the client keeps (by the names it was given)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


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
           headers: Mapping[str, str] | None = None) -> bytes:
    """An HTTP/1.1 request: request line, Host, the given headers, Content-Length when there is a body (or the method
    carries one), then the body. A line break in any part is refused (header injection)."""
    host, port = origin
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    if any("\r" in line or "\n" in line for line in lines):
        raise ValueError("a line break inside a request line or header")
    head = "\r\n".join(lines)
    # UTF-8 as aiohttp's client writes them; what a server decoded with surrogateescape goes back as it came.
    return (head + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, its answer parsed as the bytes arrive."""

    def __init__(self, loop: asyncio.AbstractEventLoop, keep_headers: dict[bytes, str]) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[Answer] | None = None
        self._body: list[bytes] = []
        self._keep = keep_headers  # lower-case name on the wire -> the name it is kept under
        self._headers: dict[str, str] = {}
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
    def on_header(self, name: bytes, value: bytes) -> None:
        if self._keep and (kept := self._keep.get(name.lower())) is not None:
            self._headers[kept] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.reusable and self._parser.should_keep_alive()
        self._settle(Answer(self._parser.get_status_code(), b"".join(self._body), self._headers))

    # the client's side
    def exchange(self, raw: bytes, timeout: float) -> asyncio.Future[Answer]:
        """Send `raw`; the future answers, or fails on a disconnect, a parse error or the timeout."""
        if self._transport is None:  # lost after its connect or while idle, before this request: nothing was sent
            lost: asyncio.Future[Answer] = self._loop.create_future()
            lost.set_exception(ServerDisconnected("the server closed the connection before the request was sent"))
            return lost
        answer = self._answer = self._loop.create_future()
        self._body, self._headers = [], {}
        self._timer = self._loop.call_later(timeout, self._time_out)
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

    def _settle(self, outcome: Answer | Exception) -> None:
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


class _Slots:
    """At most `size` requests to one origin at once; the others wait their turn, in arrival order. Taking a free one
    costs no await (the common case, every call of the gateway's that is not queued behind a hundred others)."""

    __slots__ = ("_waiting", "free")

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiting: deque[asyncio.Future[None]] = deque()

    def take_now(self) -> bool:
        """Take a free slot if there is one and nobody waits for it."""
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return True
        return False

    async def take(self, deadline: float) -> None:
        """Wait for a slot until the loop's clock reads `deadline` (`TimeoutError` then)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give_back()  # handed a slot just as the wait ended: it goes on to the next one
            elif waiter in self._waiting:
                self._waiting.remove(waiter)
            raise

    def give_back(self) -> None:
        """Hand the slot to the first one still waiting, or free it."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class LeanClient:
    """Keep-alive connection pools by origin; `request` answers (status, body bytes) and `exchange` an `Answer`; neither
    raises on 4xx/5xx.

    Connection errors (refused, reset, closed early: `OSError`, `ServerDisconnected` among them), parse errors
    (`httptools.HttpParserError`) and timeouts (`TimeoutError`) raise. `keep_headers` names the response headers an
    `Answer` carries (matched case-insensitively, kept under the names given); `max_connections` bounds the
    connections to one origin in use at once (0: no bound), the rest wait for one."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_SECONDS, max_idle: int = DEFAULT_MAX_IDLE,
                 keep_headers: Iterable[str] = (), max_connections: int = 0) -> None:
        self.timeout, self.max_idle, self.max_connections = timeout, max_idle, max_connections
        self._keep = {name.lower().encode("latin-1"): name for name in keep_headers}
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._in_use: dict[Origin, _Slots] = {}
        self.connections_opened = 0

    def prepare(self, method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None,
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
        answer = await self.exchange(request)
        return answer.status, answer.body

    async def exchange(self, request: Prepared, timeout: float | None = None) -> Answer:
        """Send a prepared request and answer it, all within `timeout` seconds (the client's own by default)."""
        if not self.max_connections:
            return await self._exchange(request, self.timeout if timeout is None else timeout)
        slots = self._in_use.get(request.origin)
        if slots is None:
            slots = self._in_use[request.origin] = _Slots(self.max_connections)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        if not slots.take_now():
            await slots.take(deadline)
        try:
            return await self._exchange(request, deadline - loop.time())
        finally:
            slots.give_back()

    async def _exchange(self, request: Prepared, timeout: float) -> Answer:
        if timeout <= 0:
            raise TimeoutError("no time left for the request")
        connection = self._take_idle(request.origin) or await self._connect(request.origin, timeout)
        try:
            answer = await connection.exchange(request.raw, timeout)
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

    async def _connect(self, origin: Origin, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(loop, self._keep), *origin), timeout)
        self._open.add(connection)
        self.connections_opened += 1
        return connection

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)
