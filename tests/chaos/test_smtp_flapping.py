"""(6) The mail server refuses one recipient three times with a transient 451, then accepts: that confirmation is
emailed once, by the notifier's retry tiers (capped exponential backoff: four attempts on one delivery row), and the
other confirmations are not held up behind it: they are all in the sink while the refused one still waits.

The stack's notifier talks to a small SMTP server of the test's own (aiosmtpd, in the test's event loop) that saves
what it accepts into the stack's mail folder just as scripts/mailsink.py does, and answers RCPT TO for the chosen
address with `451 4.3.0` the first three times."""

from __future__ import annotations

import asyncio
import importlib.util
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from smartslot_common.testing import wait_for
from smartslot_common.testing.processes import free_port

from .harness import (
    MAIL_SINK,
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    client_accounts,
    emails_by_appointment,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]
REFUSALS = 3
OTHERS = 6
# The first retry waits 2 s, then 4 s, then 8 s (the notifier's defaults): the refused email arrives some 14 s after
# the others, and the test sees the others delivered while it still waits.
RETRY = {"SMARTSLOT_NOTIFIER_DELIVERY_RETRY_BASE_SECONDS": "2",
         "SMARTSLOT_NOTIFIER_DELIVERY_POLL_INTERVAL_SECONDS": "0.2"}


def _sink_module():
    spec = importlib.util.spec_from_file_location("chaos_mailsink", MAIL_SINK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RefusingSink:
    """Saves every message like the mail sink, but refuses RCPT TO `flaky` with a 4xx `times` times first."""

    def __init__(self, times: int) -> None:
        self._sink = _sink_module()
        self._save = None
        self.flaky = ""
        self.left = times
        self.refused = 0

    def save_into(self, mail_dir: Path) -> None:
        self._save = self._sink.SaveToDirectory(mail_dir)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() == self.flaky and self.left > 0:
            self.left -= 1
            self.refused += 1
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._save is None:
            return "451 4.3.0 Not ready"
        return await self._save.handle_DATA(server, session, envelope)


@asynccontextmanager
async def refusing_sink(handler: RefusingSink, port: int) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="flaky.localhost", loop=loop), "127.0.0.1", port)
    async with server:
        yield


async def test_6_a_flapping_mail_server_delays_one_email_and_blocks_no_other() -> None:
    port, handler = free_port(), RefusingSink(REFUSALS)
    async with refusing_sink(handler, port), chaos_stack(SMARTSLOT_NOTIFIER_SMTP_PORT=str(port), **RETRY) as chaos:
        handler.save_into(chaos.mail_dir)
        flaky, *others = await client_accounts(chaos.api, 1 + OTHERS)
        handler.flaky = flaky.email.lower()
        slot_ids = await slots(chaos.api, chaos.admin, 1 + OTHERS)
        recorder = Recorder()
        booked = await asyncio.gather(*(
            recorder.call(chaos.api, "POST", "/v1/appointments", who.token, {"slot_id": slot_id})
            for who, slot_id in zip([flaky, *others], slot_ids, strict=True)))
        assert [answer.status for answer in booked if answer] == [201] * (1 + OTHERS), recorder.statuses()
        flaky_id, *other_ids = [answer.body["id"] for answer in booked if answer]

        async def others_mailed() -> bool:
            return set(emails_by_appointment(chaos.mail_dir)) >= set(other_ids)

        await wait_for(others_mailed, 60, interval=0.1, what="the other confirmations to be emailed")
        waiting = await chaos.db.fetchrow(
            "SELECT status, attempts, last_response_code FROM notifier.deliveries "
            "WHERE channel = 'email' AND appointment_id = $1::uuid", flaky_id)
        assert waiting is not None
        # Not blocked behind the refused one: they are in while it is still pending, refused at least once.
        assert (waiting["status"], waiting["last_response_code"]) == ("pending", 451), dict(waiting)
        assert flaky_id not in emails_by_appointment(chaos.mail_dir)

        await assert_each_confirmation_published_and_emailed_once(chaos, [flaky_id, *other_ids], timeout=90)
        assert handler.refused == REFUSALS
        rows = await chaos.db.fetch(
            "SELECT appointment_id, attempts, status FROM notifier.deliveries WHERE channel = 'email'")
        attempts = {str(row["appointment_id"]): (row["status"], row["attempts"]) for row in rows}
        assert attempts == {flaky_id: ("sent", REFUSALS + 1)} | dict.fromkeys(other_ids, ("sent", 1)), attempts
        assert emails_by_appointment(chaos.mail_dir) == Counter(dict.fromkeys([flaky_id, *other_ids], 1))
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        assert recorder.statuses() == {201: 1 + OTHERS}
