"""The collector's settings for a serving process, every service's (not for tests, which build many apps in one
process).

Measured first under wrk through the gateway: with Python's defaults the cyclic collector took about 13 % of the
CPU, and its full collections (a 90 000-object heap of start-up state: settings, schemas, the OpenAPI document,
pools) paused the loop for about 35 ms each, twenty times in ten seconds, which was most of the p99. Start-up's
objects live as long as the process, so they are frozen out of the collector's sight once the app has started; and
the youngest generation is collected after 20 000 allocations rather than 700, by when most of a request's objects
have already been freed by reference counting instead of being traced and promoted.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

YOUNG_THRESHOLD = 20_000  # allocations between collections of the youngest generation (Python's default: 700)
OLDER_THRESHOLD = 20  # collections of one generation between collections of the next (default: 10)


def settle() -> None:
    """Collect, freeze what is left, and collect less often from now on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)


async def settle_heap(_: web.Application) -> None:
    """On start-up, once everything is loaded: `settle`."""
    settle()


@contextmanager
def settled() -> Iterator[None]:
    """`settle` for a stretch of work (the load driver's run, whose own pauses would read as the stack's latency),
    the collector as it was afterwards."""
    thresholds = gc.get_threshold()
    settle()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)

