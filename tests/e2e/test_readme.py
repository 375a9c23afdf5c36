"""The README's quick start, run with bash exactly as it stands, against the stack under test seeded the way
`make run` seeds it: it ends with the demo client's confirmed appointment. And what a timestamp sent with a bare
`+` in its offset (what `from=$(date -uIs)` in a URL sends) gets instead of a silent `null`: a 422 saying why."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from smartslot_common.api_client import ApiClient

from .conftest import RunningStack

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SEED_SCRIPT = REPO / "scripts" / "seed_demo.py"
MARKER = "<!-- quick start: tests/e2e/test_readme.py runs this block as it stands -->"
DEMO_SERVICE = "General consultation"
DEMO_CLIENT = ("client@example.com", "smartslot-client")


def quick_start() -> str:
    """The shell block right below the README's quick-start marker."""
    lines = README.read_text().splitlines()
    assert MARKER in lines, f"README.md has lost its quick-start marker: {MARKER}"
    start = lines.index(MARKER) + 1
    assert lines[start] == "```bash", "the quick-start marker must sit right above a ```bash block"
    end = lines.index("```", start + 1)
    return "\n".join(lines[start + 1:end]) + "\n"


def json_documents(text: str) -> list[Any]:
    """Every JSON document printed one after another (jq's output)."""
    decoder, documents, position = json.JSONDecoder(), [], 0
    while (position := len(text) - len(text[position:].lstrip())) < len(text):
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


@pytest.fixture(scope="module")
async def demo(api: ApiClient, running_stack: RunningStack) -> dict[str, str]:
    """make run's demo data, seeded by the same script as the stack's admin; the demo service's and client's ids."""
    spec = importlib.util.spec_from_file_location("seed_demo", SEED_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    seed_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed_demo)
    await seed_demo.seed(api, (running_stack.admin_email, running_stack.admin_password))
    client = await api.token(*DEMO_CLIENT)
    services = (await api.call("GET", "/v1/services?limit=200", client)).body["items"]
    (service,) = [service["id"] for service in services if service["name"] == DEMO_SERVICE]
    me = await api.call("GET", "/v1/me", client)
    return {"service": service, "client": me.body["id"], "token": client}


async def test_the_quick_start_books_and_confirms_a_slot_of_the_demo_service(
    api: ApiClient, running_stack: RunningStack, demo: dict[str, str], admin_token: str
) -> None:
    missing = [tool for tool in ("bash", "curl", "jq", "date") if shutil.which(tool) is None]
    assert not missing, f"the README's quick start needs {missing} (apt-get install curl jq)"
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", quick_start(), env={**os.environ, "SMARTSLOT_URL": running_stack.base_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    output, errors = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, errors.decode()
    assert not errors, errors.decode()

    hold, confirmed = json_documents(output.decode())
    assert hold["status"] == "locked", hold  # what POST /v1/holds answers with 201
    assert hold["hold_expires_at"], hold
    assert confirmed == {"id": hold["id"], "status": "confirmed", "starts_at": hold["starts_at"]}
    stored = await api.call("GET", f"/v1/appointments/{hold['id']}", admin_token)
    assert stored.status == 200, stored.body
    assert stored.body["status"] == "confirmed"
    assert (stored.body["service_id"], stored.body["client_id"]) == (demo["service"], demo["client"])


def _raw_window(start: datetime, days: int) -> str:
    """`from` and `to` as `date -uIs` prints them, put in a URL as they are: the `+` unencoded."""
    end = start + timedelta(days=days)
    return f"from={start.isoformat(timespec='seconds')}&to={end.isoformat(timespec='seconds')}"


@pytest.mark.parametrize("path", ["/v1/availability?service_id={service}&{window}", "/v1/appointments?{window}"])
async def test_a_timestamp_whose_plus_arrived_as_a_space_gets_a_422_saying_to_send_it_as_2b(
    api: ApiClient, demo: dict[str, str], path: str
) -> None:
    window = _raw_window(datetime.now(UTC).replace(microsecond=0), days=7)
    assert "+00:00" in window

    answer = await api.call("GET", path.format(service=demo["service"], window=window), demo["token"])

    assert (answer.status, answer.code) == (422, "validation_error"), answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert "`+`" in answer.body["detail"]
    assert "`%2B`" in answer.body["detail"]
    assert "from" in {error["field"] for error in answer.body["errors"]}

    encoded = await api.call("GET", path.format(service=demo["service"], window=quote(window, safe="=&")),
                             demo["token"])
    assert encoded.status == 200, encoded.body
