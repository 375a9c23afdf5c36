"""Typed keys of what availability's application holds."""

import asyncpg
import redis.asyncio as aioredis
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from availability.adapters.cache import PageCache
from availability.service_layer.live import LiveChanges
from availability.service_layer.search import SearchDeps
from availability.settings import AvailabilitySettings
from smartslot_common.live import LiveLog

SETTINGS = web.AppKey("settings", AvailabilitySettings)
POOL = web.AppKey("pool", asyncpg.Pool)
READ_POOL = web.AppKey("read_pool", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
CACHE = web.AppKey("cache", PageCache)
SEARCH = web.AppKey("search", SearchDeps)
AMQP = web.AppKey("amqp", AbstractRobustConnection)
LIVE = web.AppKey("live", LiveLog)
LIVE_CHANGES = web.AppKey("live_changes", LiveChanges)
