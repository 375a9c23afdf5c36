"""The notifier's event handlers, built from the started app (they need its delivery worker)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from notifier.app_keys import SETTINGS, WORKER
from notifier.service_layer.events import EventHandlers
from smartslot_common.messaging import Handler


def handlers(app: web.Application) -> Mapping[str, Handler]:
    return EventHandlers(app[SETTINGS], app[WORKER]).mapping()
