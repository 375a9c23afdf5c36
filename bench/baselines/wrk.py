"""The HTTP ceiling of this machine: wrk (closed loop, C, as fast as the server answers) against a URL.

wrk's `--latency` table is parsed, and so is the JSON line its `done` hook prints (wrk_done.lua, finer
percentiles); the JSON wins where both say something. wrk is installed with apt-get when it is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

DONE_SCRIPT = Path(__file__).with_name("wrk_done.lua")
JSON_PREFIX = "WRK_JSON "
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
DISTRIBUTION = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)


def _ms(value: str, unit: str) -> float:
    return float(value) * UNITS_MS[unit]


def _from_table(text: str) -> dict:
    """What wrk's own summary says: requests, requests per second, the latency distribution, errors."""
    parsed: dict = {}
    if found := re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE):
        parsed["rate"] = float(found.group(1))
    if found := re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, re.MULTILINE):
        parsed["requests"] = int(found.group(1))
        parsed["seconds"] = _ms(found.group(2), found.group(3)) / 1000
    for percentile, value, unit in DISTRIBUTION.findall(text):
        parsed[f"p{percentile}_ms"] = _ms(value, unit)
    errors = parsed["non_2xx"] = 0
    if found := re.search(r"^\s+Non-2xx or 3xx responses: (\d+)", text, re.MULTILINE):
        errors += int(found.group(1))
        parsed["non_2xx"] = int(found.group(1))
    if found := re.search(r"^\s+Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text,
                          re.MULTILINE):
        errors += sum(int(count) for count in found.groups())
    parsed["errors"] = errors
    return parsed


def _from_json(text: str) -> dict:
    """What the `done` hook printed (microseconds), if it did."""
    line = next((line for line in text.splitlines() if line.startswith(JSON_PREFIX)), None)
    if line is None:
        return {}
    document = json.loads(line.removeprefix(JSON_PREFIX))
    latency, seconds = document["latency_us"], document["duration_us"] / 1_000_000
    parsed = {f"{key}_ms": latency[key] / 1000 for key in ("p50", "p90", "p99", "max")}
    parsed.update(requests=document["requests"], seconds=seconds, errors=sum(document["errors"].values()),
                  non_2xx=document["errors"]["status"])
    if seconds:
        parsed["rate"] = document["requests"] / seconds
    return parsed


def parse(text: str) -> dict:
    """rate (requests per second), requests, seconds, p50/p90/p99/max in ms, errors and (among them) answers that were
    not 2xx or 3xx, from wrk's stdout."""
    parsed = _from_table(text) | _from_json(text)
    if "rate" not in parsed:
        raise ValueError("no 'Requests/sec' in wrk's output")
    return parsed


async def _apt_get(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "apt-get", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"},
    )
    _, err = await process.communicate()
    lines = err.decode(errors="replace").strip().splitlines()
    return process.returncode or 0, lines[-1] if lines else ""


async def ensure_wrk() -> str | None:
    """wrk's path, installing it with `apt-get install -y wrk` when it is missing; None (said in one line) if that
    fails."""
    if (path := shutil.which("wrk")) is not None:
        return path
    if shutil.which("apt-get") is None:
        print("bench: wrk is missing and there is no apt-get to install it; the wrk baselines are left out")
        return None
    status, complaint = await _apt_get("install", "-y", "-q", "wrk")
    if status != 0:  # an empty or stale package list is the usual reason: refresh it once
        await _apt_get("update", "-q")
        status, complaint = await _apt_get("install", "-y", "-q", "wrk")
    if status != 0 or (path := shutil.which("wrk")) is None:
        print(f"bench: wrk is missing and `apt-get install -y wrk` failed ({complaint or f'exit {status}'}); "
              "install it as root to get the wrk baselines, which this run leaves out")
        return None
    print("bench: wrk was missing; installed it with `apt-get install -y wrk`")
    return path


def post_script(body: str, folder: Path) -> Path:
    """A wrk script that POSTs `body` as JSON on every request and prints the `done` hook's line."""
    if "]]" in body:
        raise ValueError("the body must not contain ']]' (it is a Lua long string)")
    script = folder / "wrk_post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = [[{body}]]\nwrk.headers["Content-Type"] = "application/json"\n'
                      + DONE_SCRIPT.read_text())
    return script


async def run(name: str, url: str, seconds: float, connections: int, threads: int = 1,
              headers: dict[str, str] | None = None, post_json: str | None = None,
              refusals_expected: bool = False) -> dict:
    """wrk against `url` for `seconds`: a baseline row (with an `error` instead when wrk is missing or fails).

    `post_json` sends every request as a POST with that body; with `refusals_expected` answers that are not 2xx or 3xx
    (e.g. a storm loser's 409) are counted as served, not as errors."""
    row: dict = {"baseline": name, "tool": "wrk",
                 "load": f"{threads} thread{'s' * (threads > 1)}, {connections} connections, {seconds:g} s"}
    tool = await ensure_wrk()
    if tool is None:
        return row | {"error": "wrk is not installed"}
    header_args = [argument for name_, value in (headers or {}).items() for argument in ("-H", f"{name_}: {value}")]
    with tempfile.TemporaryDirectory(prefix="wrk-") as folder:
        script = DONE_SCRIPT if post_json is None else post_script(post_json, Path(folder))
        process = await asyncio.create_subprocess_exec(
            tool, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script),
            *header_args, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
    try:
        row |= parse(out.decode())
    except ValueError as error:
        return row | {"error": f"wrk exited with {process.returncode}: {err.decode().strip() or error}"}
    if refusals_expected:
        row["errors"] -= row["non_2xx"]
    if row["errors"] > row["requests"] // 100:  # more than 1 % errors: the number is not a ceiling of success
        row["error"] = f"{row['errors']} of {row['requests']} requests failed or were not 2xx"
    return row
