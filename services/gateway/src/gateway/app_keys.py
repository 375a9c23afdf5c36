"""Typed keys of what the gateway's application holds."""

import aiohttp
import asyncpg
from aiohttp import web

from gateway.adapters.tokens import TokenIssuer
from gateway.settings import GatewaySettings

SETTINGS = web.AppKey("settings", GatewaySettings)
POOL = web.AppKey("pool", asyncpg.Pool)
TOKENS = web.AppKey("tokens", TokenIssuer)
HTTP = web.AppKey("http", aiohttp.ClientSession)
