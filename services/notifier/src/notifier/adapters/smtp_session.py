"""One kept-open SMTP session that sends a message in two round trips where the server offers PIPELINING.

aiosmtplib opens the session (greeting, EHLO, STARTTLS, AUTH); the messages then go over its transport with a
protocol of this module's, because aiosmtplib awaits each reply before the next command (its protocol drops a reply
that arrives while the one before it waits to be read). With PIPELINING (RFC 2920, offered by the common mail
servers) MAIL, RCPT and DATA leave in one write and their replies are read together, then the content and its end:
two round trips per message, on this side and the server's, instead of four. Without it, each command waits for its
reply as before.

A refusal leaves the session usable (the envelope is reset with RSET); a lost connection, a reply that is not SMTP or
a timeout (the caller's) leave it closed, never reused.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass
from typing import cast

import aiosmtplib

MAX_REPLY_BYTES = 65_536  # a server's reply, every line of it; more is not an SMTP server talking
_LINE_END = re.compile(rb"(?<!\r)\n")


class SessionLost(ConnectionError):
    """The connection is gone, or the server said something that is not an SMTP reply: the session is unusable."""


@dataclass(frozen=True)
class Reply:
    code: int
    message: str

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400


class Refusal(Exception):
    """The server refused the message (its reply to MAIL, RCPT, DATA or the content); the session is still usable."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.message}")
        self.reply = reply


class _Replies(asyncio.Protocol):
    """The server's replies in order, however many arrive at once."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.lost: BaseException | None = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            while (reply := self._parse()) is not None:
                self._replies.append(reply)
        except SessionLost as error:
            self.lost = error
        self._wake()

    def eof_received(self) -> bool:
        self.connection_lost(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.lost or SessionLost(f"connection closed: {exc}" if exc else "connection closed by the server")
        self._wake()

    async def next(self) -> Reply:
        while not self._replies:
            if self.lost is not None:
                raise self.lost
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._replies.popleft()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _parse(self) -> Reply | None:
        """The first complete reply in the buffer (taken off it), if there is one."""
        lines, offset = [], 0
        while (end := self._buffer.find(b"\n", offset)) != -1:
            line = bytes(self._buffer[offset:end]).rstrip(b"\r")
            offset = end + 1
            if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in (b"", b" ", b"-"):
                raise SessionLost(f"not an SMTP reply: {line[:80]!r}")
            lines.append(line[4:].decode("utf-8", "replace").strip())
            if line[3:4] != b"-":
                del self._buffer[:offset]
                return Reply(int(line[:3]), "\n".join(lines))
        if len(self._buffer) > MAX_REPLY_BYTES:
            raise SessionLost("reply too long")
        return None


class SmtpSession:
    """An open, authenticated session over which messages go one at a time."""

    def __init__(self, transport: asyncio.WriteTransport, replies: _Replies, pipelining: bool, size: bool) -> None:
        self._transport = transport
        self._replies = replies
        self._pipelining = pipelining
        self._size = size

    @classmethod
    async def open(cls, client: aiosmtplib.SMTP) -> SmtpSession:
        """Take over the session `client` (not yet connected) opens: its transport, its server's extensions."""
        await client.connect()
        if client.transport is None:  # connect() leaves its transport, or raises
            raise SessionLost("no transport after connecting")
        # A stream transport (asyncio's or uvloop's, which is no asyncio.WriteTransport subclass but acts as one).
        transport = cast(asyncio.WriteTransport, client.transport)
        replies = _Replies()
        transport.set_protocol(replies)  # from here on, the replies are read here (client is dropped unclosed)
        return cls(transport, replies, client.supports_extension("pipelining"), client.supports_extension("size"))

    @property
    def is_open(self) -> bool:
        return self._replies.lost is None and not self._transport.is_closing()

    async def send(self, sender: str, recipient: str, message: bytes) -> Reply:
        """Send one message; the server's reply to its content. Raise `Refusal` when the server refused it (the
        envelope is reset) and `SessionLost` when the session broke."""
        content = _content(message)
        size = f" SIZE={len(content) - 3}" if self._size else ""  # RFC 1870: the message, not its terminator
        commands = [f"MAIL FROM:<{sender}>{size}\r\n".encode(), f"RCPT TO:<{recipient}>\r\n".encode(), b"DATA\r\n"]
        if self._pipelining:
            self._transport.write(b"".join(commands))
            replies = [await self._replies.next() for _ in commands]
        else:
            replies = await self._one_by_one(commands)
        mail, rcpt, data = [*replies, None, None][:3]
        if mail is not None and rcpt is not None and data is not None and data.code == 354:
            if mail.positive and rcpt.positive:
                self._transport.write(content)
                return await self._settled(await self._replies.next())
            # Taken into DATA though the envelope failed (RFC 2920 lets a server do so): end it empty.
            self._transport.write(b".\r\n")
            await self._replies.next()
        refused = next((reply for reply in (mail, rcpt, data) if reply is not None and not reply.positive), None)
        if refused is None:  # DATA accepted with anything but 354
            raise SessionLost(f"unexpected reply to DATA: {data}")
        await self._reset()
        raise Refusal(refused)

    async def close(self) -> None:
        """Say goodbye and close (a session that is gone is just closed)."""
        try:
            if self.is_open:
                self._transport.write(b"QUIT\r\n")
                await self._replies.next()
        finally:
            self.abort()

    def abort(self) -> None:
        """Close without a word: the session is in an unknown state."""
        if not self._transport.is_closing():
            self._transport.close()

    async def _one_by_one(self, commands: list[bytes]) -> list[Reply]:
        """Each command after the reply to the one before; stops at the first refusal."""
        replies = []
        for command in commands:
            self._transport.write(command)
            replies.append(reply := await self._replies.next())
            if not reply.positive:
                break
        return replies

    async def _settled(self, reply: Reply) -> Reply:
        if reply.positive:
            return reply
        await self._reset()
        raise Refusal(reply)

    async def _reset(self) -> None:
        self._transport.write(b"RSET\r\n")
        if not (await self._replies.next()).positive:
            raise SessionLost("the server refused to reset the envelope")


def _content(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, lines starting with a dot doubled, and the terminator."""
    if b"\n" in message.replace(b"\r\n", b""):
        message = _LINE_END.sub(b"\r\n", message)
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"
