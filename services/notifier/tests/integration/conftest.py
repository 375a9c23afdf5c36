"""The notifier on this run's real PostgreSQL and RabbitMQ (`stack`), served in-process by aiohttp's TestServer,
sending to a real SMTP server in the test process and calling webhook receivers served the same way.

Test modules import nothing from here: everything comes through the fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.app import create_app
from notifier.settings import NotifierSettings
from smartslot_common.api_client import Answer
from smartslot_common.db import create_pool
from smartslot_common.messaging import Event, EventPublisher, declare_topology
from smartslot_common.testing import IsolatedStack, isolated_stack, wait_for
from smartslot_common.testing.identity import signing_middleware
from smartslot_common.testing.service_api import ServiceApi, Who

WAIT = 15.0
# Fast loops and short backoffs, so that retries happen within a test; the lease still outlives any send.
FAST = {
    "delivery_poll_interval_seconds": 0.1, "delivery_retry_base_seconds": 0.2, "delivery_retry_cap_seconds": 1.0,
    "delivery_lease_seconds": 5.0, "smtp_timeout_seconds": 3.0, "webhook_timeout_seconds": 2.0,
    "reminder_poll_interval_seconds": 0.2, "email_max_attempts": 6, "webhook_max_attempts": 4,
    "webhook_disable_after_failures": 3, "db_pool_min_size": 1, "db_pool_max_size": 10, "log_json": False,
}
# The receivers listen on plain http on this host: allowed here, refused by the defaults.
LOCAL_WEBHOOKS = {"webhooks_allow_http": True, "webhooks_allowed_networks": ("127.0.0.0/8", "::1/128")}


# --- a real SMTP server -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One accepted message, parsed."""

    recipients: list[str]
    message: EmailMessage
    raw: bytes

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def appointment_id(self) -> str | None:
        value = self.message["X-SmartSlot-Appointment-Id"]
        return str(value) if value else None

    @property
    def kind(self) -> str:
        return str(self.message["X-SmartSlot-Kind"])

    def part(self, content_type: str) -> Any:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return part
        raise AssertionError(f"no {content_type} part in {self.message['Subject']!r}")

    def text(self, content_type: str = "text/plain") -> str:
        return self.part(content_type).get_content()


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    refusals: dict[str, tuple[int, str]] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (recipient, Message-ID)
    held: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    pipelining: bool = False  # offered in the EHLO reply (aiosmtpd takes pipelined commands either way)
    refused_senders: dict[str, str] = field(default_factory=dict)  # MAIL FROM address -> reply
    refused_recipients: dict[str, str] = field(default_factory=dict)  # RCPT TO address -> reply

    def __post_init__(self) -> None:
        self.gate.set()

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if (reply := self.refused_recipients.get(address.lower())) is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        if not self.gate.is_set():
            self.held += 1
            await self.gate.wait()
            return "451 4.3.2 held transaction released: try again"
        if (reply := self.refused_senders.get(address.lower())) is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipient = envelope.rcpt_tos[0].lower()
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=default_policy)
        assert isinstance(message, EmailMessage)
        times, reply = self.refusals.get(recipient, (0, ""))
        if times > 0:
            self.refusals[recipient] = (times - 1, reply)
            self.refused.append((recipient, str(message["Message-ID"])))
            return reply
        self.received.append(Received([r.lower() for r in envelope.rcpt_tos], message, raw))
        return "250 OK: queued"


class SmtpSink:
    """The server, its port, and what it received."""

    def __init__(self) -> None:
        self.handler = SinkHandler()
        self._server: asyncio.Server | None = None
        self._sessions: list[SMTP] = []
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> SMTP:
            session = SMTP(self.handler, hostname="sink.localhost", enable_SMTPUTF8=True, loop=loop)
            self._sessions.append(session)
            return session

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = await loop.create_server(protocol, sock=sock)

    async def close(self) -> None:
        self.handler.gate.set()
        assert self._server is not None
        self._server.close()
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()
        await self._server.wait_closed()
        # Let the sessions' handler tasks see their connections closed.
        for session in self._sessions:
            task = getattr(session, "_handler_coroutine", None)
            if task is not None and not task.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def to(self, address: str) -> list[Received]:
        return [item for item in self.handler.received if address.lower() in item.recipients]

    def refuse(self, address: str, times: int, reply: str = "451 4.3.0 temporary local problem, try again") -> None:
        """Answer the next `times` messages to `address` with `reply` (a 451 by default)."""
        self.handler.refusals[address.lower()] = (times, reply)

    def hold(self) -> None:
        """Hold every new transaction at MAIL FROM until `release()` (then it is refused with 451)."""
        self.handler.gate.clear()

    def release(self) -> None:
        self.handler.gate.set()


# --- webhook receivers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request a receiver got."""

    name: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receivers:
    """An aiohttp server whose `/hooks/{name}` answer scripted statuses (200 once the script runs out)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.scripts: dict[str, list[int]] = {}
        self.always: dict[str, int] = {}
        app = web.Application()
        app.router.add_post("/hooks/{name}", self._receive)
        self.server = TestServer(app)

    async def _receive(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.calls.append(Call(name, dict(request.headers), await request.read(), time.monotonic()))
        script = self.scripts.get(name)
        status = script.pop(0) if script else self.always.get(name, 200)
        return web.Response(status=status)

    def url(self, name: str) -> str:
        return str(self.server.make_url(f"/hooks/{name}"))

    def to(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]


# --- the notifier under test --------------------------------------------------------------------------------------


def caller(role: str, user_id: uuid.UUID | str) -> Who:
    """A caller as the gateway forwards it."""
    return Who(role, uuid.UUID(str(user_id)))


def address(label: str = "client") -> str:
    """A recipient no other test uses."""
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


def appointment_payload(**overrides: Any) -> dict[str, Any]:
    """An appointment payload with every enrichment field filled, as booking will send it."""
    starts_at = overrides.pop("starts_at", datetime(2026, 12, 1, 8, 30, tzinfo=UTC))
    payload = {
        "appointment_id": str(uuid.uuid4()), "status": "confirmed", "slot_id": str(uuid.uuid4()),
        "provider_id": str(uuid.uuid4()), "service_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()),
        "starts_at": starts_at.isoformat(), "ends_at": (starts_at + timedelta(minutes=30)).isoformat(),
        "hold_expires_at": None, "origin": "client", "timezone": "Europe/Berlin", "service_name": "Check-up",
        "provider_name": "Dr. Weber", "provider_user_id": str(uuid.uuid4()), "clinic_name": "Praxis Mitte",
        "clinic_address": "Torstraße 1, Berlin", "client_email": address(), "client_name": "Ada Lovelace",
        "price_cents": 4500, "currency": "EUR", "ics_sequence": 0,
    }
    return payload | {key: value.isoformat() if isinstance(value, datetime) else value
                      for key, value in overrides.items()}


def offer_payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "offer_id": str(uuid.uuid4()), "entry_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()),
        "appointment_id": str(uuid.uuid4()), "slot_id": str(uuid.uuid4()), "service_id": str(uuid.uuid4()),
        "provider_id": str(uuid.uuid4()), "starts_at": "2026-12-01T08:30:00+00:00",
        "offer_expires_at": "2026-11-30T09:05:00+00:00", "timezone": "Europe/Berlin", "service_name": "Check-up",
        "provider_name": "Dr. Weber", "clinic_name": "Praxis Mitte", "client_email": address(),
        "client_name": "Grace Hopper",
    }
    return payload | {key: value.isoformat() if isinstance(value, datetime) else value
                      for key, value in overrides.items()}


def settings_for(stack: IsolatedStack, smtp_port: int, **overrides: Any) -> NotifierSettings:
    values = {"database_url": stack.database_url, "amqp_url": stack.amqp_url, "namespace": stack.namespace,
              "smtp_port": smtp_port} | FAST | LOCAL_WEBHOOKS
    return NotifierSettings(**(values | overrides))


class Notifier:
    """The started notifier and everything around it that tests use."""

    appointment = staticmethod(appointment_payload)
    offer = staticmethod(offer_payload)
    address = staticmethod(address)
    who = staticmethod(caller)

    def __init__(self, http: TestClient, db: asyncpg.Pool, sink: SmtpSink, receivers: Receivers,
                 publisher: EventPublisher, settings: NotifierSettings) -> None:
        self.http, self.db, self.sink, self.receivers = http, db, sink, receivers
        self.publisher, self.settings = publisher, settings
        self._api = ServiceApi(http)

    @property
    def app(self) -> web.Application:
        return self.http.app

    async def publish(self, event_type: str, payload: dict[str, Any]) -> Event:
        event = Event.create(event_type, payload, producer="tests")
        await self.publisher.publish(event)
        return event

    async def call(self, method: str, path: str, who: Who | None = None, json: Any = None,
                   params: dict[str, str] | None = None) -> Answer:
        return await self._api.call(method, path, who, json, params=params)

    async def mail_to(self, recipient: str, count: int = 1, timeout: float = WAIT) -> list[Received]:
        """Wait until `count` messages to `recipient` arrived; return them all."""

        async def arrived() -> list[Received] | None:
            received = self.sink.to(recipient)
            return received if len(received) >= count else None

        return await wait_for(arrived, timeout, what=f"{count} message(s) to {recipient}")

    async def settled(self, source_id: uuid.UUID) -> list[asyncpg.Record]:
        """Wait until no delivery of this source is pending; return them."""

        async def done() -> list[asyncpg.Record] | None:
            rows = await self.db.fetch("SELECT * FROM deliveries WHERE source_id = $1 ORDER BY created_at", source_id)
            return rows if rows and all(row["status"] != "pending" for row in rows) else None

        return await wait_for(done, WAIT, what=f"the deliveries of {source_id} settled")


@pytest.fixture(scope="session")
async def sink() -> AsyncIterator[SmtpSink]:
    server = SmtpSink()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def fresh_sink() -> AsyncIterator[SmtpSink]:
    """An SMTP server of the test's own (for notifiers started by the test itself)."""
    server = SmtpSink()
    await server.start()
    yield server
    await server.close()


@pytest.fixture(scope="session")
async def receivers() -> AsyncIterator[Receivers]:
    receiving = Receivers()
    await receiving.server.start_server()
    yield receiving
    await receiving.server.close()


@pytest.fixture(scope="session")
async def amqp(stack: IsolatedStack) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(stack.amqp_url)
    async with connection.channel() as channel:
        await declare_topology(channel, stack.namespace)
    yield connection
    await connection.close()


@pytest.fixture(scope="session")
async def notifier(stack: IsolatedStack, sink: SmtpSink, receivers: Receivers,
                   amqp: AbstractRobustConnection) -> AsyncIterator[Notifier]:
    settings = settings_for(stack, sink.port)
    http = TestClient(TestServer(create_app(settings)), middlewares=(signing_middleware(),))
    await http.start_server()
    publisher = EventPublisher(amqp, stack.namespace)
    db = await create_pool(stack.database_url, "notifier", min_size=1, max_size=4)
    try:
        yield Notifier(http, db, sink, receivers, publisher, settings)
    finally:
        await db.close()
        await publisher.close()
        await http.close()


@pytest.fixture(scope="session")
async def strict_notifier(sink: SmtpSink, receivers: Receivers) -> AsyncIterator[Notifier]:
    """A notifier with the production rules for webhook destinations (https, public addresses only), on a stack of
    its own so that its worker never meets another test's local receivers."""
    async with isolated_stack(services=("notifier",)) as stack:
        amqp = await aio_pika.connect_robust(stack.amqp_url)
        async with amqp.channel() as channel:
            await declare_topology(channel, stack.namespace)
        settings = settings_for(stack, sink.port, webhooks_allow_http=False, webhooks_allowed_networks=())
        http = TestClient(TestServer(create_app(settings)), middlewares=(signing_middleware(),))
        await http.start_server()
        publisher = EventPublisher(amqp, stack.namespace)
        db = await create_pool(stack.database_url, "notifier", min_size=1, max_size=2)
        try:
            yield Notifier(http, db, sink, receivers, publisher, settings)
        finally:
            await db.close()
            await publisher.close()
            await http.close()
            await amqp.close()
