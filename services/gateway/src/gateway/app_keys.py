"""Typed keys of what the gateway's application holds."""

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from gateway.adapters.own_writes import OwnWrites
from gateway.adapters.rate_limits import RateLimiter
from gateway.adapters.refused_slots import RefusedSlots
from gateway.adapters.role_marks import RoleMarks
from gateway.adapters.tokens import TokenIssuer
from gateway.adapters.upstreams import Upstreams
from gateway.settings import GatewaySettings

SETTINGS = web.AppKey("settings", GatewaySettings)
POOL = web.AppKey("pool", asyncpg.Pool)
TOKENS = web.AppKey("tokens", TokenIssuer)
HTTP = web.AppKey("http", aiohttp.ClientSession)
REDIS = web.AppKey("redis", aioredis.Redis)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
ROLE_MARKS = web.AppKey("role_marks", RoleMarks)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
OWN_WRITES = web.AppKey("own_writes", OwnWrites)
REFUSED_SLOTS = web.AppKey("refused_slots", RefusedSlots)
