"""The waitlist's background jobs, each a cleanup context: started with the app, cancelled and awaited on shutdown.

- the sweeper (offer deadlines, crash recovery), every `sweep_interval_seconds`, the first pass at start-up;
- housekeeping (windows that ended, the fill-ratio gauge), every `HOUSEKEEPING_INTERVAL_SECONDS`;
- retention (published outbox rows, old inbox rows and early outcomes), every `retention_interval_seconds`.
"""

from __future__ import annotations

from aiohttp import web

from smartslot_common.jobs import CleanupContext, background
from smartslot_common.logging import get_logger
from smartslot_common.retention import pass_budget, retain
from waitlist import retention
from waitlist.app_keys import OFFERER, POOL, SETTINGS
from waitlist.service_layer import sweeper

log = get_logger(__name__)
HOUSEKEEPING_INTERVAL_SECONDS = 10.0


async def _sweep(app: web.Application) -> None:
    run = await sweeper.sweep(app[OFFERER], app[SETTINGS].sweep_batch_size)
    if run.recovered_requests or run.recovered_returns:
        log.info("waitlist_recovered", requests=run.recovered_requests, returns=run.recovered_returns)


async def _housekeeping(app: web.Application) -> None:
    expired = await sweeper.housekeeping(app[OFFERER].unit_of_work())
    if expired:
        log.info("waitlist_windows_ended", entries=expired)


async def _retain(app: web.Application) -> dict[str, int]:
    settings = app[SETTINGS]
    return await retain(app[POOL], retention.policies(settings), settings.retention_batch_size, pass_budget(settings))


def contexts() -> list[CleanupContext]:
    """The jobs to append to the app's cleanup contexts (after the pool and the offerer they use)."""
    return [
        background("sweeper", lambda app: app[SETTINGS].sweep_interval_seconds, _sweep),
        background("housekeeping", lambda _: HOUSEKEEPING_INTERVAL_SECONDS, _housekeeping),
        background("retention", lambda app: app[SETTINGS].retention_interval_seconds, _retain),
    ]
