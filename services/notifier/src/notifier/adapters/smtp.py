"""Emails over SMTP (aiosmtplib): built from a delivery's stored content, with its stable Message-ID."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from notifier.domain.deliveries import Attempt, Outcome
from notifier.domain.emails import Email
from notifier.settings import NotifierSettings
from smartslot_common.messaging.errors import describe

ICS_FILENAMES = {"REQUEST": "invite.ics", "CANCEL": "cancel.ics"}
# CRLF, and headers folded only past RFC 5322's 998-character limit: Python's default 78 folds a long Subject
# before its first word, which some readers then show with a leading space.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


def build_message(email: Email, mail_from: str, message_id: str, date: datetime) -> EmailMessage:
    """The MIME message: text and HTML alternatives, and the calendar object when there is one.

    Everything comes from the stored delivery, so a resent message is the same message (same Message-ID and Date).
    """
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = Address(display_name=email.to_name or "", addr_spec=email.to)
    message["Subject"] = email.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-SmartSlot-Kind"] = email.kind
    if email.appointment_id:
        message["X-SmartSlot-Appointment-Id"] = email.appointment_id
    # 7-bit safe encodings: no relay on the way needs to speak 8BITMIME.
    message.set_content(email.text, cte="quoted-printable")
    message.add_alternative(email.html, subtype="html", cte="quoted-printable")
    if email.ics and email.ics_method:
        message.add_attachment(
            email.ics.encode(), maintype="text", subtype="calendar",
            filename=ICS_FILENAMES.get(email.ics_method, "invite.ics"),
            params={"method": email.ics_method, "charset": "utf-8"},
        )
    # Boundaries from the Message-ID rather than random ones; "=_" never occurs in base64 or quoted-printable text.
    token = hashlib.sha256(message_id.encode()).hexdigest()[:24]
    for index, part in enumerate(part for part in message.walk() if part.is_multipart()):
        part.set_boundary(f"=_smartslot_{token}_{index}")
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as it goes over SMTP."""
    return message.as_bytes(policy=WIRE_POLICY)


def _refusal(code: int, message: str) -> Attempt:
    outcome = Outcome.TRANSIENT if 400 <= code < 500 else Outcome.PERMANENT
    return Attempt(outcome, code, f"{code} {message}".strip())


class SmtpSender:
    """Hands messages to the configured SMTP server, one connection per message."""

    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings

    async def send(self, email: Email, message_id: str, date: datetime) -> Attempt:
        """Send once and say what happened: 4xx replies and connection trouble are transient."""
        settings = self._settings
        try:
            data = wire_bytes(build_message(email, settings.mail_from, message_id, date))
        except (ValueError, TypeError) as error:  # an address no message can carry
            return Attempt(Outcome.PERMANENT, None, f"unusable message: {describe(error)}")
        try:
            async with asyncio.timeout(settings.smtp_timeout_seconds):
                _, reply = await aiosmtplib.send(
                    data,
                    sender=parseaddr(settings.mail_from)[1],
                    recipients=[email.to],
                    hostname=settings.smtp_host,
                    port=settings.smtp_port,
                    username=settings.smtp_username,
                    password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                    use_tls=settings.smtp_use_tls,
                    timeout=settings.smtp_timeout_seconds,
                    local_hostname="smartslot-notifier.localhost",
                )
        except aiosmtplib.SMTPRecipientsRefused as error:
            refusal = error.recipients[0]
            return _refusal(refusal.code, refusal.message)
        except (aiosmtplib.SMTPDataError, aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPSenderRefused) as error:
            return _refusal(error.code, error.message)
        except aiosmtplib.SMTPResponseException as error:  # HELO, AUTH, ...: the server's state, not this message
            return Attempt(Outcome.TRANSIENT, error.code, f"{error.code} {error.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return Attempt(Outcome.TRANSIENT, None, describe(error))
        return Attempt(Outcome.SENT, 250, reply)
