"""Fault injection for tests: an asyncio TCP proxy between a service and a server (or between a client and a service).

`cut()` makes the server vanish (new connections refused, live ones reset), `restore()` brings it back, `delay()`
adds latency to every chunk forwarded, `drop_responses()` forwards requests but resets a connection as soon as
the server's answer arrives (the answer is lost after the server acted on the request), and `stall_at(marker)` holds
back the first request that contains `marker` (and whatever follows it on that connection) until `unstall()`, so a
test can freeze a client at an exact point of its conversation with the server. The shared servers are never
touched: only the proxy's own sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType

CHUNK = 64 * 1024


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0) rather than FIN, so the peer sees a reset connection."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One proxied connection: the client's side, the server's side and the two pumps between them."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        _reset(self.client)
        _reset(self.server)


class TcpProxy:
    """`127.0.0.1:listen_port` forwarded to `target_host:target_port` (`listen_port` 0 picks a free port)."""

    def __init__(self, listen_port: int, target_host: str, target_port: int) -> None:
        self.port = listen_port
        self.target_host = target_host
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        self._delay = 0.0
        self._drop_responses = False
        self._stall_marker: bytes | None = None
        self._stalled = 0  # connections held back right now
        self._unstalled = asyncio.Event()
        self.stalls = 0  # connections held back so far
        self.connections = 0  # accepted so far, for tests that want to see the proxy in use

    @property
    def url_netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again); keeps the port it got the first time so the services' URLs stay valid."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """The server is gone: stop listening (connections refused) and reset every live connection."""
        await self._close_listener()
        self._reset_all()

    async def restore(self) -> None:
        """Forward again, without delay, dropped answers or held-back requests."""
        self._delay = 0.0
        self._drop_responses = False
        self.unstall()
        await self.start()

    def delay(self, seconds: float) -> None:
        """Add `seconds` of latency to every chunk forwarded in either direction (0 removes it)."""
        self._delay = max(0.0, seconds)

    def drop_responses(self, enabled: bool = True) -> None:
        """Forward what clients send, but reset a connection instead of relaying the server's answer on it."""
        self._drop_responses = enabled

    def stall_at(self, marker: bytes) -> None:
        """Once: the first connection whose client sends `marker` has that chunk and everything after it held back
        (not forwarded to the server) until `unstall()`. The server never sees the request; the client waits for
        an answer as if the network were slow. Other connections, and answers, flow on. `stalled` tells when it
        happened."""
        if not marker:
            raise ValueError("an empty marker would match everything")
        self._unstalled.clear()
        self._stall_marker = marker

    @property
    def stalled(self) -> bool:
        """A connection is being held back right now (`stall_at` matched, `unstall` not called yet)."""
        return self._stalled > 0

    def unstall(self) -> None:
        """Forward what was held back, and disarm a `stall_at` that has not matched yet."""
        self._stall_marker = None
        self._unstalled.set()

    async def stop(self) -> None:
        await self._close_listener()
        self._reset_all()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            # wait_closed() would wait for the handlers of live connections too; they end once reset below.
            await asyncio.sleep(0)

    def _reset_all(self) -> None:
        for link in list(self._links):
            link.reset()
            for task in link.tasks:
                task.cancel()
        self._links.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        server_writer: asyncio.StreamWriter | None = None
        link: _Link | None = None
        try:  # whatever ends this (a cut, a reset, a cancelled handler), both sockets are closed
            try:
                server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
            except OSError:
                _reset(client_writer)
                return
            if self._server is None:  # cut while this connection was being made: it must not outlive the cut
                _reset(client_writer)
                _reset(server_writer)
                return
            link = _Link(client_writer, server_writer)
            self._links.add(link)
            link.tasks = [
                asyncio.ensure_future(self._pump(client_reader, server_writer, link, answer=False)),
                asyncio.ensure_future(self._pump(server_reader, client_writer, link, answer=True)),
            ]
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            if link is not None:
                self._links.discard(link)
            for writer in (client_writer, server_writer):
                if writer is not None:
                    writer.transport.abort() if writer.transport.is_closing() else writer.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, answer: bool
    ) -> None:
        tail = b""  # the end of the previous chunk, so a marker split between two chunks is still seen
        try:
            while data := await reader.read(CHUNK):
                if answer and self._drop_responses:
                    link.reset()
                    return
                marker = self._stall_marker
                if not answer and marker is not None:
                    if marker in tail + data:
                        await self._hold_back()
                    tail = data[-(len(marker) - 1):] if len(marker) > 1 else b""
                if self._delay:
                    await asyncio.sleep(self._delay)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            link.reset()

    async def _hold_back(self) -> None:
        """This connection matched the stall marker: wait for `unstall()` before forwarding anything more of it."""
        self._stall_marker = None  # once: other connections (and later requests) are not held back
        self._stalled += 1
        self.stalls += 1
        try:
            await self._unstalled.wait()
        finally:
            self._stalled -= 1
