"""Wait until every named endpoint is ready, or a deadline passes.

    python scripts/wait_ready.py [--deadline 90] [--watch-pid PID] name=http://host:port/readyz name=tcp://host:port

An http:// endpoint is ready when it answers 200; a tcp:// one when it accepts a connection. With --watch-pid,
waiting stops as soon as that process (the process manager) has exited: the services died with it.
Exit status 0 when all are ready; otherwise 1, with the names that are not ready on stdout, one per line, and
why on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

POLL_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 2.0


def probe(url: str) -> str | None:
    """None when the endpoint is ready, else why not."""
    parts = urlsplit(url)
    try:
        if parts.scheme == "tcp":
            with socket.create_connection((parts.hostname, parts.port), timeout=PROBE_TIMEOUT_SECONDS):
                return None
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (OSError, ValueError) as error:
        return str(getattr(error, "reason", error))


def alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def wait(endpoints: dict[str, str], deadline: float, watch_pid: int | None) -> dict[str, str]:
    """Poll all endpoints concurrently; returns the not-ready ones with their last error."""
    pending = dict.fromkeys(endpoints, "not probed yet")
    give_up_at = time.monotonic() + deadline
    while pending:
        results = await asyncio.gather(*(asyncio.to_thread(probe, endpoints[name]) for name in pending))
        pending = {name: why for name, why in zip(list(pending), results, strict=True) if why is not None}
        if not pending or time.monotonic() >= give_up_at:
            break
        if not alive(watch_pid):
            pending = {name: f"{why} (the process manager has exited)" for name, why in pending.items()}
            break
        await asyncio.sleep(POLL_SECONDS)
    return pending


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=90.0, help="seconds to wait in all")
    parser.add_argument("--watch-pid", type=int, help="stop waiting when this process has exited")
    parser.add_argument("endpoints", nargs="+", metavar="name=url")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    endpoints = dict(item.split("=", 1) for item in args.endpoints)
    not_ready = asyncio.run(wait(endpoints, args.deadline, args.watch_pid))
    for name, why in not_ready.items():
        print(name)
        print(f"not ready: {name} ({endpoints[name]}): {why}", file=sys.stderr)
    return 1 if not_ready else 0


if __name__ == "__main__":
    sys.exit(main())
