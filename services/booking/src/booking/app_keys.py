"""Typed keys of what booking's application holds."""

import asyncpg
import redis.asyncio as aioredis
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from booking.adapters.slot_lock import SlotLock
from booking.settings import BookingSettings

SETTINGS = web.AppKey("settings", BookingSettings)
POOL = web.AppKey("pool", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
LOCK = web.AppKey("lock", SlotLock)
AMQP = web.AppKey("amqp", AbstractRobustConnection)
