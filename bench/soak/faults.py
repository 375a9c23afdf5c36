"""The soak's faults, in turn: Redis cut behind its proxy, RabbitMQ cut behind its proxy, a service SIGKILLed and
started again. The shared servers themselves are never touched; only the stack's own proxies and processes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench.soak.judge import Window

KINDS = ("redis", "amqp", "kill")
KILLED = ("booking", "notifier", "waitlist", "availability")  # the services SIGKILLed, in turn


def schedule(duration: float, every: float, fault_seconds: float, grace: float) -> list[float]:
    """Seconds after the load's start at which a fault begins: every `every` seconds, each over (grace included)
    before the load ends."""
    times, at = [], every
    while at + fault_seconds + grace < duration:
        times.append(at)
        at += every
    return times


@dataclass
class Fault:
    what: str
    window: Window  # opened, closed (grace included)


async def inject(chaos: Any, number: int, seconds: float, grace: float) -> Fault:
    """The `number`th fault (0-based), from opening to the stack serving again (then `grace` more seconds count as
    inside it: breakers close, pools refill, queued work drains). `chaos` is the chaos harness's `Chaos`."""
    kind, opened = KINDS[number % len(KINDS)], time.monotonic()
    if kind == "kill":
        name = KILLED[(number // len(KINDS)) % len(KILLED)]
        chaos.services.kill(name)
        await asyncio.sleep(seconds)  # how long the service stays down: the fault's length
        await chaos.restart(name)
        what = f"{name} SIGKILLed, restarted after {seconds:g} s"
    else:
        proxy = chaos.proxies[kind]
        await proxy.cut()
        await asyncio.sleep(seconds)  # the cut's length
        await proxy.restore()
        what = f"{'Redis' if kind == 'redis' else 'RabbitMQ'} proxy cut for {seconds:g} s"
    return Fault(what, (opened, time.monotonic() + grace))
