"""Emails over SMTP (aiosmtplib) on a few long-lived connections, built from a delivery's stored content with its
stable Message-ID.

A connection is kept open between messages (a message costs the server a MAIL, RCPT and DATA, not a connection,
greeting, EHLO and QUIT as well) and used by one message at a time; up to `smtp_connections` send at once, so one
stalled message does not hold up the others. A connection found closed is replaced before use; one whose
conversation failed midway is closed and replaced, never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from email.utils import parseaddr

import aiosmtplib

from notifier.adapters.mime import message_bytes
from notifier.domain.deliveries import Attempt, Outcome
from notifier.domain.emails import Email
from notifier.settings import NotifierSettings
from smartslot_common.messaging.errors import describe

# The server answered: the connection is still in a known state (aiosmtplib has reset the envelope).
_REPLIES = (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException)


def _refusal(code: int, message: str) -> Attempt:
    outcome = Outcome.TRANSIENT if 400 <= code < 500 else Outcome.PERMANENT
    return Attempt(outcome, code, f"{code} {message}".strip())


class SmtpSender:
    """Hands messages to the configured SMTP server over a small pool of kept-open connections."""

    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings
        self._sender = parseaddr(settings.mail_from)[1]
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.smtp_connections)

    async def send(self, email: Email, message_id: str, date: datetime) -> Attempt:
        """Send once and say what happened: 4xx replies and connection trouble are transient."""
        try:
            data = message_bytes(email, self._settings.mail_from, message_id, date)
        except (ValueError, TypeError) as error:  # an address no message can carry
            return Attempt(Outcome.PERMANENT, None, f"unusable message: {describe(error)}")
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            try:
                async with asyncio.timeout(self._settings.smtp_timeout_seconds):
                    client = await self._connected(client)
                    _, reply = await client.sendmail(self._sender, [email.to], data)
            except _REPLIES as error:
                if client is not None:
                    self._idle.append(client)
                return _attempt_refused(error)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
                _discard(client)
                return Attempt(Outcome.TRANSIENT, None, describe(error))
            except BaseException:
                _discard(client)
                raise
            self._idle.append(client)
            return Attempt(Outcome.SENT, 250, reply)

    async def close(self) -> None:
        """Say goodbye on every idle connection."""
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                async with asyncio.timeout(self._settings.smtp_timeout_seconds):
                    await client.quit()
            _discard(client)

    async def _connected(self, client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP:
        """`client` if it is still connected (the server may have closed it while idle), else a new connection."""
        if client is not None and client.is_connected:
            return client
        _discard(client)
        settings = self._settings
        fresh = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=settings.smtp_use_tls,
            timeout=settings.smtp_timeout_seconds,
            local_hostname="smartslot-notifier.localhost",
        )
        try:
            await fresh.connect()
        except BaseException:
            _discard(fresh)
            raise
        return fresh


def _attempt_refused(error: BaseException) -> Attempt:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refusal = error.recipients[0]
        return _refusal(refusal.code, refusal.message)
    assert isinstance(error, aiosmtplib.SMTPResponseException)
    if isinstance(error, (aiosmtplib.SMTPDataError, aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPSenderRefused)):
        return _refusal(error.code, error.message)
    # HELO, AUTH, ...: the server's state, not this message
    return Attempt(Outcome.TRANSIENT, error.code, f"{error.code} {error.message}")


def _discard(client: aiosmtplib.SMTP | None) -> None:
    if client is not None and client.is_connected:
        client.close()
