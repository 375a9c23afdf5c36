"""The local mail sink (`scripts/mailsink.py`, what `make run` starts) takes the notifier's emails as they are
sent and keeps each as a `.eml` file that parses back, arrival time and calendar part included."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path

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
