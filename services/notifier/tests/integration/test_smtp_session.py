"""The notifier's SMTP sessions against a real SMTP server (aiosmtpd): messages pipelined where the server offers it
(MAIL, RCPT and DATA in one write), one command at a time where it does not, refusals reported with the session kept,
content carried intact. A recording relay between them shows what the notifier wrote, write by write."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import uvloop

from notifier.adapters.smtp import SmtpSender
from notifier.domain.deliveries import Outcome
from notifier.domain.emails import Email
from notifier.settings import NotifierSettings

from .conftest import SmtpSink

pytestmark = pytest.mark.integration


class RecordingRelay:
    """Passes bytes between the notifier and the server, keeping each of the notifier's writes as it arrived."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.writes: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def commands(self) -> list[bytes]:
        """The writes that carry SMTP commands (not message content)."""
        return [write for write in self.writes if write[:4] in (b"MAIL", b"RCPT", b"DATA", b"RSET")]

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        both = [asyncio.create_task(self._pipe(client_reader, server_writer, record=True)),
                asyncio.create_task(self._pipe(server_reader, client_writer, record=False))]
        self._tasks.update(both)
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_writer, server_writer):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bool) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65_536):
                if record:
                    self.writes.append(chunk)
                writer.write(chunk)
                await writer.drain()


@pytest.fixture
async def server() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.close()


@pytest.fixture
async def relay(server: SmtpSink) -> AsyncIterator[RecordingRelay]:
    recording = RecordingRelay(server.port)
    await recording.start()
    yield recording
    await recording.close()


@pytest.fixture
async def sender(relay: RecordingRelay) -> AsyncIterator[SmtpSender]:
    port = relay.port
    smtp = SmtpSender(NotifierSettings(smtp_port=port, smtp_timeout_seconds=5.0, smtp_connections=1,
                                       internal_identity_key="k" * 32))
    yield smtp
    await smtp.close()


def email(to: str, text: str = "See you soon.\n") -> Email:
    return Email(kind="confirmation", to=to, to_name="Ada Lovelace", subject="Your visit",
                 text=text, html=f"<p>{text}</p>", appointment_id=None)


async def send(sender: SmtpSender, to: str, text: str = "See you soon.\n") -> Outcome:
    attempt = await sender.send(email(to, text), f"<{to}@smartslot.test>", datetime.now(UTC))
    return attempt.outcome


async def test_where_the_server_offers_pipelining_each_message_sends_its_commands_in_one_write(
    server: SmtpSink, relay: RecordingRelay, sender: SmtpSender
) -> None:
    server.handler.pipelining = True
    recipients = [f"pipelined-{n}@example.test" for n in range(3)]

    assert [await send(sender, to) for to in recipients] == [Outcome.SENT] * 3

    assert [received.recipients for received in server.handler.received] == [[to] for to in recipients]
    commands = relay.commands()
    assert len(commands) == 3, commands
    assert all(b"MAIL FROM:" in write and b"RCPT TO:" in write and write.endswith(b"DATA\r\n") for write in commands)
    assert relay.connections == 1  # one session for them all


async def test_where_it_does_not_each_command_waits_for_its_reply(
    server: SmtpSink, relay: RecordingRelay, sender: SmtpSender
) -> None:
    assert await send(sender, "one-by-one@example.test") == Outcome.SENT

    assert [write.split(b" ")[0].strip() for write in relay.commands()] == [b"MAIL", b"RCPT", b"DATA"]
    assert [received.recipients for received in server.handler.received] == [["one-by-one@example.test"]]


@pytest.mark.parametrize("pipelining", [True, False])
async def test_a_refusal_is_reported_and_the_session_goes_on(
    server: SmtpSink, relay: RecordingRelay, sender: SmtpSender, pipelining: bool
) -> None:
    server.handler.pipelining = pipelining
    server.handler.refused_recipients["gone@example.test"] = "550 5.1.1 no such mailbox"
    server.refuse("busy@example.test", 1, "451 4.3.0 try again later")

    outcomes = [await send(sender, to) for to in ("gone@example.test", "busy@example.test", "fine@example.test")]

    assert outcomes == [Outcome.PERMANENT, Outcome.TRANSIENT, Outcome.SENT]
    assert [received.recipients for received in server.handler.received] == [["fine@example.test"]]
    assert relay.connections == 1  # the envelope was reset each time, the session kept


async def test_a_refused_sender_is_what_is_reported_though_the_rest_was_pipelined_behind_it(
    server: SmtpSink, sender: SmtpSender
) -> None:
    server.handler.pipelining = True
    server.handler.refused_senders["no-reply@smartslot.localhost"] = "553 5.7.1 sender not allowed"

    attempt = await sender.send(email("someone@example.test"), "<refused@smartslot.test>", datetime.now(UTC))

    assert (attempt.outcome, attempt.code) == (Outcome.PERMANENT, 553)
    assert server.handler.received == []


@pytest.mark.parametrize("pipelining", [True, False])
async def test_lines_starting_with_a_dot_arrive_as_written(
    server: SmtpSink, sender: SmtpSender, pipelining: bool
) -> None:
    server.handler.pipelining = pipelining
    text = ".\n..two dots\n.one dot\nplain\n"

    assert await send(sender, "dots@example.test", text) == Outcome.SENT

    [received] = server.handler.received
    assert received.text().replace("\r\n", "\n") == text


async def test_a_session_the_server_closed_while_idle_is_replaced(
    server: SmtpSink, relay: RecordingRelay, sender: SmtpSender
) -> None:
    server.handler.pipelining = True
    assert await send(sender, "first@example.test") == Outcome.SENT
    for session in server._sessions:  # the server hangs up between messages
        if session.transport is not None:
            session.transport.close()

    outcomes = [await send(sender, "second@example.test") for _ in range(2)]

    assert Outcome.SENT in outcomes  # at worst the first try finds the session gone (transient, retried later)
    assert relay.connections == 2


def test_on_uvloop_as_the_service_runs_messages_go_pipelined_too() -> None:
    async def scenario() -> tuple[list[Outcome], int]:
        sink = SmtpSink()
        await sink.start()
        sink.handler.pipelining = True
        smtp = SmtpSender(NotifierSettings(smtp_port=sink.port, smtp_timeout_seconds=5.0, smtp_connections=1,
                                           internal_identity_key="k" * 32))
        try:
            outcomes = [await send(smtp, f"uvloop-{n}@example.test") for n in range(2)]
        finally:
            await smtp.close()
            await sink.close()
        return outcomes, len(sink.handler.received)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(scenario()) == ([Outcome.SENT] * 2, 2)
