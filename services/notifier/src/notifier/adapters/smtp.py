"""Emails over SMTP on a few long-lived sessions, built from a delivery's stored content with its stable Message-ID.

A session is kept open between messages (a message costs the server a MAIL, RCPT and DATA, not a connection,
greeting, EHLO and QUIT as well), sends them pipelined where the server offers it (`smtp_session`) and is used by one
message at a time; up to `smtp_connections` send at once, so one stalled message does not hold up the others. A
session found closed is replaced before use; one whose conversation failed midway is closed and replaced, never
reused.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from email.utils import parseaddr

import aiosmtplib

from notifier.adapters.mime import message_bytes
from notifier.adapters.smtp_session import Refusal, SmtpSession
from notifier.domain.deliveries import Attempt, Outcome
from notifier.domain.emails import Email
from notifier.settings import NotifierSettings
from smartslot_common.messaging.errors import describe


def _refusal(code: int, message: str) -> Attempt:
    outcome = Outcome.TRANSIENT if 400 <= code < 500 else Outcome.PERMANENT
    return Attempt(outcome, code, f"{code} {message}".strip())


class SmtpSender:
    """Hands messages to the configured SMTP server over a small pool of kept-open sessions."""

    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings
        self._sender = parseaddr(settings.mail_from)[1]
        self._idle: list[SmtpSession] = []
        self._slots = asyncio.Semaphore(settings.smtp_connections)

    async def send(self, email: Email, message_id: str, date: datetime) -> Attempt:
        """Send once and say what happened: 4xx replies and connection trouble are transient."""
        try:
            data = message_bytes(email, self._settings.mail_from, message_id, date)
            recipient = _mailbox(email.to)
        except (ValueError, TypeError) as error:  # an address no message can carry
            return Attempt(Outcome.PERMANENT, None, f"unusable message: {describe(error)}")
        async with self._slots:
            session = self._idle.pop() if self._idle else None
            try:
                async with asyncio.timeout(self._settings.smtp_timeout_seconds):
                    session = await self._opened(session)
                    reply = await session.send(self._sender, recipient, data)
            except Refusal as refusal:
                assert session is not None  # only a session's send refuses
                self._idle.append(session)
                return _refusal(refusal.reply.code, refusal.reply.message)
            except aiosmtplib.SMTPResponseException as error:  # refused while opening: HELO, AUTH, ...
                _abort(session)
                return Attempt(Outcome.TRANSIENT, error.code, f"{error.code} {error.message}")
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:  # SessionLost among them
                _abort(session)
                return Attempt(Outcome.TRANSIENT, None, describe(error))
            except BaseException:
                _abort(session)
                raise
            self._idle.append(session)
            return Attempt(Outcome.SENT, reply.code, reply.message)

    async def close(self) -> None:
        """Say goodbye on every idle session."""
        idle, self._idle = self._idle, []
        for session in idle:
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(self._settings.smtp_timeout_seconds):
                    await session.close()
            session.abort()

    async def _opened(self, session: SmtpSession | None) -> SmtpSession:
        """`session` if it is still open (the server may have closed it while idle), else a new one."""
        if session is not None and session.is_open:
            return session
        _abort(session)
        settings = self._settings
        return await SmtpSession.open(aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=settings.smtp_use_tls,
            timeout=settings.smtp_timeout_seconds,
            local_hostname="smartslot-notifier.localhost",
        ))


def _mailbox(address: str) -> str:
    """The bare mailbox of a recipient, checked for what an envelope cannot carry."""
    mailbox = parseaddr(address)[1]
    if not mailbox or any(character in mailbox for character in "<>\r\n") or not mailbox.isascii():
        raise ValueError(f"not a mailbox an envelope can carry: {address!r}")
    return mailbox


def _abort(session: SmtpSession | None) -> None:
    if session is not None:
        session.abort()
