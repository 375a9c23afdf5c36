"""Typed keys of what the waitlist's application holds."""

import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from waitlist.adapters.booking import BookingPort
from waitlist.service_layer.dispatch import Offerer
from waitlist.settings import WaitlistSettings

SETTINGS = web.AppKey("settings", WaitlistSettings)
POOL = web.AppKey("pool", asyncpg.Pool)
AMQP = web.AppKey("amqp", AbstractRobustConnection)
BOOKING = web.AppKey("booking", BookingPort)
OFFERER = web.AppKey("offerer", Offerer)
