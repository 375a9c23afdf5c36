"""The local mail sink (`scripts/mailsink.py`, what `make run` starts) takes the notifier's emails as they are
sent and keeps each as a `.eml` file that parses back, arrival time and calendar part included."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import aiosmtplib
import pytest
from icalendar import Calendar

from notifier.adapters.smtp import SmtpSender
from notifier.domain import notices
from notifier.domain.deliveries import Outcome
from notifier.domain.notices import Letterhead
from notifier.settings import NotifierSettings
from smartslot_common.contracts.payloads import AppointmentPayload
from smartslot_common.testing import wait_for
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[4]


async def accepting(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def test_mailsink_keeps_the_notifiers_email(tmp_path, notifier):
    port = free_port()
    sink = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO_ROOT / "scripts" / "mailsink.py"), "--port", str(port), "--dir", str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for(lambda: accepting(port), 15, what="the mail sink listening")
        payload = AppointmentPayload.model_validate(notifier.appointment())
        email = notices.confirmed(payload, Letterhead("SmartSlot <no-reply@smartslot.test>"), datetime.now(UTC)).email
        sent_at = datetime.now(UTC)

        attempt = await SmtpSender(NotifierSettings(smtp_port=port)).send(email, "<sink-1@smartslot.test>", sent_at)

        assert attempt.outcome is Outcome.SENT
        [path] = await wait_for(lambda: _async(list(tmp_path.glob("*.eml"))), 15, what="the .eml file")
    finally:
        sink.terminate()
        await sink.wait()

    message = message_from_bytes(path.read_bytes(), policy=default)
    assert message["Message-ID"] == "<sink-1@smartslot.test>"
    assert message["X-Mailsink-Envelope-To"] == payload.client_email
    assert datetime.fromisoformat(message["X-Mailsink-Received-At"]) >= sent_at
    assert message["X-SmartSlot-Appointment-Id"] == str(payload.appointment_id)
    calendar = next(part for part in message.walk() if part.get_content_type() == "text/calendar")
    assert str(Calendar.from_ical(calendar.get_content())["METHOD"]) == "REQUEST"


async def _async(value):
    return value


async def test_mailsink_keeps_every_byte_of_a_message_read_in_bulk(tmp_path):
    """The sink reads DATA kilobytes at a time: lines that begin or end with a dot, a lone dot inside a line, long
    runs of lines well past the reader's line limit and a last line without text all come back as they were sent."""
    port = free_port()
    sink = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO_ROOT / "scripts" / "mailsink.py"), "--port", str(port), "--dir", str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    body = [".starts with a dot", "..two dots", "ends with a dot.", "a . in the middle", ".", "x" * 900]
    body += [f"line {n} of a long message, well past one read of the line limit." for n in range(400)]
    message = b"Subject: bulk\r\nMessage-ID: <bulk-1@smartslot.test>\r\n\r\n" + "\r\n".join(body).encode() + b"\r\n"
    try:
        await wait_for(lambda: accepting(port), 15, what="the mail sink listening")
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="test.localhost")
        await client.connect()
        for _ in range(2):  # the second message on the same connection: the conversation stayed in step
            await client.sendmail("from@smartslot.test", ["to@smartslot.test"], message)
        await client.quit()
        paths = await wait_for(lambda: _async(sorted(tmp_path.glob("*.eml")) if len(list(tmp_path.glob("*.eml"))) == 2
                                              else None), 15, what="two .eml files")
    finally:
        sink.terminate()
        await sink.wait()

    for path in paths:
        saved = path.read_bytes()
        assert saved.split(b"\r\n", 3)[3] == message  # after the sink's three X-Mailsink header lines
