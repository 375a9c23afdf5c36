"""Typed keys of what the notifier's application holds."""

import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from notifier.settings import NotifierSettings

SETTINGS = web.AppKey("settings", NotifierSettings)
POOL = web.AppKey("pool", asyncpg.Pool)
AMQP = web.AppKey("amqp", AbstractRobustConnection)
