"""(e) A lock holder paused past its lock's TTL: the one scenario not built yet."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.chaos


@pytest.mark.skip(reason="not built yet (issue 9, item 5e): needs a second booking process behind a switchable "
                  "proxy for the gateway, a PostgreSQL proxy delaying the first process's transaction, SIGSTOP once "
                  "its Redis lock key exists, the key's expiry, a winning hold through the second process, then "
                  "SIGCONT: the first write must lose the slot-version compare-and-set")
async def test_e_a_paused_lock_holder_cannot_double_book() -> None:
    raise AssertionError("unreachable")
