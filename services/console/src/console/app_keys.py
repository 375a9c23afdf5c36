"""Typed keys of what the console's application holds."""

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet
from jinja2 import Environment

from console.adapters.api import CatalogCache
from console.settings import ConsoleSettings

SETTINGS = web.AppKey("settings", ConsoleSettings)
HTTP = web.AppKey("http", aiohttp.ClientSession)
JINJA = web.AppKey("jinja", Environment)
SEALER = web.AppKey("sealer", Fernet)
CATALOG = web.AppKey("catalog", CatalogCache)
STREAM_HTTP = web.AppKey("stream_http", aiohttp.ClientSession)
