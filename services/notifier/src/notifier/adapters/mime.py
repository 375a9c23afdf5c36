"""The MIME message of a stored delivery, as the bytes that go over SMTP: text and HTML alternatives, and the
calendar object when there is one; 7-bit safe (no relay on the way needs to speak 8BITMIME), CRLF line ends.

Everything comes from the stored delivery, so a resent message is the same message (same Message-ID, Date and
bytes). The message is written directly with the standard library's encoders (quoted-printable, base64, RFC 2047
encoded words, `formataddr`) rather than through `email.message.EmailMessage`, whose header objects and policy
machinery cost about 2 ms per email, most of a notification's CPU. A recipient or sender address that is not plain
ASCII (it needs SMTPUTF8) still goes through `EmailMessage`, which knows what to do with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

from notifier.domain.emails import Email

ICS_FILENAMES = {"REQUEST": "invite.ics", "CANCEL": "cancel.ics"}
# CRLF, and headers folded only past RFC 5322's 998-character limit: Python's default 78 folds a long Subject
# before its first word, which some readers then show with a leading space.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)
CRLF = "\r\n"
_PLAIN_HEADER_LIMIT = 900  # longer values are encoded, so folded into lines under the 998 limit


def message_bytes(email: Email, mail_from: str, message_id: str, date: datetime) -> bytes:
    """The whole message; `ValueError` when no message can carry the addresses."""
    to = _recipient(email)
    sender = _sender(mail_from)
    if to is None or sender is None:
        return _through_email_message(email, mail_from, message_id, date)
    boundaries = _boundaries(message_id)
    headers = [
        ("From", sender),
        ("To", to),
        ("Subject", _unstructured(email.subject)),
        ("Date", format_datetime(date)),
        ("Message-ID", _unstructured(message_id)),
        ("Auto-Submitted", "auto-generated"),
        ("X-SmartSlot-Kind", _unstructured(email.kind)),
    ]
    if email.appointment_id:
        headers.append(("X-SmartSlot-Appointment-Id", _unstructured(email.appointment_id)))
    headers.append(("MIME-Version", "1.0"))
    alternatives = [_text_part("plain", email.text), _text_part("html", email.html)]
    if email.ics and email.ics_method:
        body = _multipart("mixed", boundaries[0], [
            _multipart("alternative", boundaries[1], alternatives), _calendar_part(email.ics, email.ics_method),
        ])
    else:
        body = _multipart("alternative", boundaries[0], alternatives)
    return (_headers(headers) + body).encode("ascii")


def _recipient(email: Email) -> str | None:
    if not _plain_address(email.to):
        return None
    return formataddr((email.to_name or "", email.to), charset="utf-8")


@lru_cache(maxsize=16)  # the configured sender, the same for every message: parsed once
def _sender(mail_from: str) -> str | None:
    name, address = parseaddr(mail_from)
    if not address or not _plain_address(address):
        return None
    return formataddr((name, address), charset="utf-8")


def _plain_address(address: str) -> bool:
    return address.isascii() and address.isprintable() and " " not in address and "@" in address


def _unstructured(value: str) -> str:
    """A header value as is when it is printable ASCII, else as RFC 2047 encoded words (line breaks included)."""
    if value.isascii() and value.isprintable() and len(value) <= _PLAIN_HEADER_LIMIT:
        return value
    return Header(value, "utf-8", header_name="Subject").encode(linesep=CRLF)


def _boundaries(message_id: str) -> tuple[str, str]:
    # From the Message-ID rather than random ones; "=_" never occurs in base64 or quoted-printable text.
    token = hashlib.sha256(message_id.encode()).hexdigest()[:24]
    return f"=_smartslot_{token}_0", f"=_smartslot_{token}_1"


def _headers(fields: list[tuple[str, str]]) -> str:
    return "".join(f"{name}: {value}{CRLF}" for name, value in fields)


def _text_part(subtype: str, text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", CRLF)
    encoded = binascii.b2a_qp(lines.encode(), istext=True).decode("ascii")
    if not encoded.endswith(CRLF):
        encoded += CRLF
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}{encoded}")


def _calendar_part(ics: str, method: str) -> str:
    encoded = base64.encodebytes(ics.encode()).decode("ascii").replace("\n", CRLF)
    filename = ICS_FILENAMES.get(method, "invite.ics")
    return (f'Content-Type: text/calendar; method="{_unstructured(method)}"; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}"
            f'Content-Disposition: attachment; filename="{filename}"{CRLF}{CRLF}{encoded}')


def _multipart(subtype: str, boundary: str, parts: list[str]) -> str:
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{CRLF}{CRLF}'
    # Each part's own last line break belongs to the delimiter line that follows it (RFC 2046, 5.1.1).
    body = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return f"{head}{body}--{boundary}--{CRLF}"


def _through_email_message(email: Email, mail_from: str, message_id: str, date: datetime) -> bytes:
    """The same message through `EmailMessage`, for addresses that need its handling of non-ASCII."""
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
    message.set_content(email.text, cte="quoted-printable")
    message.add_alternative(email.html, subtype="html", cte="quoted-printable")
    if email.ics and email.ics_method:
        message.add_attachment(
            email.ics.encode(), maintype="text", subtype="calendar",
            filename=ICS_FILENAMES.get(email.ics_method, "invite.ics"),
            params={"method": email.ics_method, "charset": "utf-8"},
        )
    multiparts = [part for part in message.walk() if part.is_multipart()]
    for part, boundary in zip(multiparts, _boundaries(message_id), strict=False):
        part.set_boundary(boundary)
    return message.as_bytes(policy=WIRE_POLICY)
