"""The local SMTP sink's folder as the benchmarks read it: which confirmation emails have arrived, and when."""

from __future__ import annotations

import email.message
from datetime import datetime
from email.parser import BytesHeaderParser
from pathlib import Path

HEADERS = BytesHeaderParser()  # the three headers read here, not the MIME body with its .ics


def _head(raw: bytes) -> bytes:
    """A saved message's header block (the bytes before its first empty line)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(separator)
        if end >= 0:
            return raw[:end + len(separator)]
    return raw


class Arrivals:
    """Appointment id → arrival time (epoch seconds) of its confirmation email; each saved message is read once,
    however often the sink's folder is polled (the driver shares the cores with the notifier it waits for)."""

    def __init__(self, mail_dir: Path) -> None:
        self._mail_dir = mail_dir
        self._read: set[Path] = set()
        self.times: dict[str, float] = {}

    def poll(self) -> dict[str, float]:
        for path in self._mail_dir.glob("*.eml"):
            if path not in self._read:
                self._read.add(path)
                self._add(HEADERS.parsebytes(_head(path.read_bytes())))
        return self.times

    def _add(self, message: email.message.Message) -> None:
        if message["X-SmartSlot-Kind"] == "confirmation":
            arrived = datetime.fromisoformat(message["X-Mailsink-Received-At"]).timestamp()
            self.times[message["X-SmartSlot-Appointment-Id"]] = arrived
