"""A local SMTP sink for development: accepts every message and saves it as a .eml file.

    python scripts/mailsink.py [--host 127.0.0.1] [--port 1025] [--dir var/mail]

Host and port default to SMARTSLOT_MAILSINK_HOST/PORT, then to the notifier's SMARTSLOT_NOTIFIER_SMTP_HOST/PORT,
so that the sink listens where the notifier sends. Plain asyncio on purpose: nothing here needs uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

log = logging.getLogger("mailsink")
# The largest message taken in one read (aiosmtpd's own default data_size_limit); a bigger one is refused with 552.
MAX_MESSAGE_BYTES = 33_554_432
NEWLINE = ord("\n")

REPO_ROOT = Path(__file__).resolve().parent.parent


def _setting(name: str, fallback: str, default: str) -> str:
    return os.environ.get(name) or os.environ.get(fallback) or default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options, defaulting to the environment the notifier reads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host", default=_setting("SMARTSLOT_MAILSINK_HOST", "SMARTSLOT_NOTIFIER_SMTP_HOST", "127.0.0.1")
    )
    parser.add_argument(
        "--port", type=int, default=int(_setting("SMARTSLOT_MAILSINK_PORT", "SMARTSLOT_NOTIFIER_SMTP_PORT", "1025"))
    )
    parser.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("SMARTSLOT_MAILSINK_DIR", REPO_ROOT / "var" / "mail"))
    )
    return parser.parse_args(argv)


class SaveToDirectory:
    """aiosmtpd handler: writes each message, headed by its envelope, to <dir>/<time>-<n>.eml.

    Cheap per message, since a benchmark counts its CPU: the file is written on the event loop (a few kilobytes
    into the page cache cost less than a hop to a thread) and the log line's subject is read from the raw header
    rather than by parsing the whole message.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._names = itertools.count()
        self._run = f"{os.getpid()}{os.urandom(2).hex()}"  # keeps names unique across restarts of the sink

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """Offer PIPELINING, as the common mail servers do (aiosmtpd reads commands one line at a time, so it takes
        them pipelined; it just does not say so)."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        received_at = datetime.now(UTC)
        content = envelope.original_content or b""
        # Envelope recipients include Bcc ones, which the message headers do not show. The arrival time lets a
        # benchmark measure "event published -> email received" from the file alone.
        header = (
            f"X-Mailsink-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Mailsink-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-Mailsink-Received-At: {received_at.isoformat()}\r\n"
        ).encode()
        path = self._save(header + content, received_at)
        if log.isEnabledFor(logging.INFO):
            log.info("from=%s to=%s subject=%r saved=%s", envelope.mail_from, ",".join(envelope.rcpt_tos),
                     subject_of(content), path)
        return "250 Message accepted for delivery"

    def _save(self, data: bytes, received_at: datetime) -> Path:
        stamp = received_at.strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.directory / f"{stamp}-{self._run}-{next(self._names)}.eml"
        # Write then rename, so that a test polling the directory never reads half a message.
        partial = path.with_suffix(".part")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)
        os.rename(partial, path)
        return path


def subject_of(content: bytes) -> str:
    """The Subject header of a raw message, unfolded and decoded, without parsing the rest of it."""
    head = content.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    for line in head.split(b"\r\n"):
        if line[:8].lower() == b"subject:":
            raw = line[8:].strip().decode("ascii", errors="replace")
            return str(make_header(decode_header(raw))) if "=?" in raw else raw
    return ""


class WholeMessageSMTP(SMTP):
    """aiosmtpd's server, reading a message's DATA a few kilobytes per call (`read_data`) instead of one awaited
    line at a time with a debug log call per line (a few microseconds each, hundreds of lines in a message with HTML and
    a calendar part: most of the sink's CPU per email, which benchmarks count). The rest of the conversation is
    aiosmtpd's; after DATA the same state reset and handler hook run as in `SMTP.smtp_DATA` (aiosmtpd is pinned in
    requirements/dev.lock, and the notifier's mail sink integration test sends a real message through this path).
    """

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        raw = await self._whole_data()
        if raw is None:
            self._set_post_data_state()
            await self.push("552 Error: Too much mail data")
            return
        content = unstuffed(raw)
        self.envelope.original_content = self.envelope.content = content  # aiosmtpd's default: bytes, undecoded
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _whole_data(self) -> bytes | None:
        """Everything before the end-of-data line (each line with its CRLF); None past MAX_MESSAGE_BYTES (the
        message is still read through its end, so the conversation stays in step)."""
        return await read_data(self._reader)


async def read_data(reader: asyncio.StreamReader) -> bytes | None:
    """A DATA section read in a few calls: up to each ".<CRLF>", which ends the data only at the start of a line.

    A stretch longer than the reader's line limit comes back as LimitOverrunError; its bytes are taken as they are
    (all but a possible start of ".<CRLF>") and the search goes on."""
    data, too_big = bytearray(), False
    while True:
        try:
            data += await reader.readuntil(b".\r\n")
        except asyncio.LimitOverrunError as error:
            data += await reader.readexactly(error.consumed)
        else:
            end = len(data) - 3
            if end == 0 or data[end - 1] == NEWLINE:
                return None if too_big else bytes(data[:end])
        if len(data) > MAX_MESSAGE_BYTES:
            too_big, data = True, data[-2:]  # keep the last line's CRLF, if it ends there


def unstuffed(data: bytes) -> bytes:
    """Undo SMTP dot-stuffing (RFC 5321 4.5.2): a line the client began with an extra "." loses it."""
    if data.startswith(b"."):
        data = data[1:]
    return data.replace(b"\r\n..", b"\r\n.")


async def serve(host: str, port: int, directory: Path) -> None:
    """Serve SMTP until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    handler = SaveToDirectory(directory)
    # An explicit hostname: the default, socket.getfqdn(), can stall for seconds without DNS.
    server = await loop.create_server(
        lambda: WholeMessageSMTP(handler, hostname="mailsink.localhost", enable_SMTPUTF8=True, loop=loop), host, port
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("listening on %s:%d, saving messages to %s", host, port, directory)
    async with server:
        await stop.wait()
    log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # aiosmtpd logs every SMTP command at INFO; one line per message is what we want to see.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
