"""Typed keys of what the notifier's application holds."""

import aiohttp
import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from notifier.adapters.webhook_destinations import Destinations
from notifier.service_layer.delivery_worker import DeliveryWorker
from notifier.service_layer.subscribers import Subscribers
from notifier.settings import NotifierSettings

SETTINGS = web.AppKey("settings", NotifierSettings)
POOL = web.AppKey("pool", asyncpg.Pool)
AMQP = web.AppKey("amqp", AbstractRobustConnection)
HTTP = web.AppKey("http", aiohttp.ClientSession)
DESTINATIONS = web.AppKey("destinations", Destinations)
WORKER = web.AppKey("worker", DeliveryWorker)
SUBSCRIBERS = web.AppKey("subscribers", Subscribers)
