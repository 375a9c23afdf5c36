"""The waitlist's durable timers, swept on the database clock.

Each pass takes rows with `FOR UPDATE SKIP LOCKED`, so any number of waitlist processes sweep at once and each row
is handled by one of them:

- offers past their deadline: the seat goes to the next entry (the next hold is booking's ruling on the last one);
- hold requests whose sender's lease ran out (it crashed): re-sent with the same Idempotency-Key;
- hand-backs never confirmed: re-sent;
- releases deferred behind a request in flight that has since settled.

At start-up the first pass runs at once: that is the recovery after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from smartslot_common.unit_of_work import in_transaction
from waitlist import metrics
from waitlist.adapters import entries, seats
from waitlist.adapters import offers as repo
from waitlist.service_layer import walk
from waitlist.service_layer.dispatch import Offerer
from waitlist.service_layer.followups import Followup, ReturnSlot, SendHold


@dataclass(frozen=True)
class SweepRun:
    """What one pass found."""

    due: int
    recovered_requests: int
    recovered_returns: int
    undeferred: int


async def sweep(pool: asyncpg.Pool, offerer: Offerer, batch_size: int) -> SweepRun:
    """One pass of every timer; the calls to booking it leads to are run before it returns."""
    policy, lease = offerer.policy, offerer.policy.lease_seconds
    due = await in_transaction(pool, lambda connection: walk.sweep_due(connection, policy, batch_size))
    stale = await in_transaction(pool, lambda connection: repo.claim_stale_requests(connection, lease, batch_size))
    returns = await in_transaction(pool, lambda connection: seats.claim_stale_returns(connection, lease, batch_size))
    deferred = await in_transaction(pool, lambda connection: walk.sweep_deferred(connection, policy, batch_size))
    metrics.HOLD_REQUESTS_RECOVERED.inc(len(stale))
    followups: list[Followup] = [*due, *deferred]
    followups += [SendHold(row["id"], row["slot_id"]) for row in stale]
    followups += [ReturnSlot(row["id"], row["slot_id"]) for row in returns]
    await offerer.run(followups)
    return SweepRun(len(due), len(stale), len(returns), len(deferred))


async def housekeeping(pool: asyncpg.Pool) -> int:
    """Slower chores: entries whose window is over expire, the fill-ratio gauge is refreshed; how many expired."""
    expired = await in_transaction(pool, entries.expire_past_windows)
    ratio = await repo.fill_ratio(pool)
    if ratio is not None:
        metrics.FILL_RATIO.set(ratio)
    return expired
