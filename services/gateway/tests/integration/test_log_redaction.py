"""The JSON log of a register → token → hold flow carries request ids and never a password, token or secret."""

from __future__ import annotations

import io
import logging
import sys

import orjson
import pytest

from smartslot_common.logging import configure_logging

pytestmark = pytest.mark.integration


async def test_secrets_never_reach_the_log(gateway, monkeypatch) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stdout", captured)
    configure_logging("gateway", "DEBUG", json=True)
    try:
        password = "s3cret-Passw0rd-for-the-log-test"
        email = gateway.email("logs")
        answer = await gateway.call("POST", "/v1/auth/register",
                                    json={"email": email, "password": password, "name": "Log Test"})
        assert answer.status == 201, answer.body
        token = await gateway.token(email, password)
        hold = await gateway.call("POST", "/v1/holds", token, json={"slot_id": "00000000-0000-4000-8000-000000000001"})
        assert hold.status < 500
        logging.getLogger("test").info("flow done")
    finally:
        root.handlers[:], root.level = saved_handlers, saved_level

    lines = [orjson.loads(line) for line in captured.getvalue().splitlines() if line.strip()]
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) >= 3
    assert all(line.get("request_id") for line in requests)
    output = captured.getvalue()
    secrets = {
        "password": password, "access token": token, "token signature": token.rsplit(".", 1)[-1],
        "jwt secret": gateway.settings.jwt_secret.get_secret_value(),
        "admin password": gateway.admin_password,
    }
    leaked = [name for name, value in secrets.items() if value in output]
    assert leaked == []
