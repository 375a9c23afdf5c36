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

from collections.abc import Sequence
from dataclasses import dataclass, field

from waitlist import metrics
from waitlist.domain.commands import Followup
from waitlist.service_layer import walk
from waitlist.service_layer.dispatch import Offerer
from waitlist.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class SweepRun:
    """What one pass found: follow-ups from due offers, re-sent requests and hand-backs, and settled releases."""

    due: int
    recovered_requests: int
    recovered_returns: int
    undeferred: int


@dataclass
class _Collected:
    """The pass's follow-ups, gathered from its transactions and run together at the end."""

    followups: list[Followup] = field(default_factory=list)

    async def __call__(self, followups: Sequence[Followup]) -> None:
        self.followups.extend(followups)


async def sweep(offerer: Offerer, batch_size: int) -> SweepRun:
    """One pass of every timer; the calls to booking it leads to are run before it returns."""
    policy, lease = offerer.policy, offerer.policy.lease_seconds
    due, deferred = _Collected(), _Collected()
    await offerer.unit_of_work(due).run(lambda uow: walk.sweep_due(uow, policy, batch_size))
    stale = await offerer.decide(lambda uow: uow.offers.claim_stale_requests(lease, batch_size))
    returns = await offerer.decide(lambda uow: uow.seats.claim_stale_returns(lease, batch_size))
    await offerer.unit_of_work(deferred).run(lambda uow: walk.sweep_deferred(uow, policy, batch_size))
    metrics.HOLD_REQUESTS_RECOVERED.inc(len(stale))
    await offerer.run([*due.followups, *deferred.followups, *stale, *returns])
    return SweepRun(len(due.followups), len(stale), len(returns), len(deferred.followups))


async def housekeeping(uow: UnitOfWork) -> int:
    """Slower chores: entries whose window is over expire, the fill-ratio gauge is refreshed; how many expired."""
    expired = await uow.run(lambda uow: uow.entries.expire_past_windows())
    ratio = await uow.run(lambda uow: uow.offers.fill_ratio(), transaction=False)
    if ratio is not None:
        metrics.FILL_RATIO.set(ratio)
    return expired
