"""Webhooks cannot be turned against the notifier's own network: with the production rules, an endpoint must be https
and reach public addresses only, when it is registered and again at every delivery, after resolution.

`strict_notifier` has those rules; the other tests' notifier allows the local receivers' http on 127.0.0.0/8.
"""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


def admin(notifier):
    return notifier.who("admin", uuid.uuid4())


def unique(label):
    return f"{label}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:8084/hooks", "127.0.0.1 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("https://10.0.0.1/hooks", "10.0.0.1 is a private address"),
    ("https://[::ffff:127.0.0.1]/hooks", "(127.0.0.1 inside IPv6)"),
    ("https://localhost/hooks", "localhost resolves to a refused address"),
    ("http://hooks.example.org/hooks", "only https URLs are allowed"),
])
async def test_registration_of_a_refused_destination_is_422_naming_the_reason(strict_notifier, url, reason):
    reply = await strict_notifier.call("POST", "/v1/admin/webhooks", admin(strict_notifier),
                                       {"url": url, "event_types": ["appointment.confirmed"]})

    assert (reply.status, reply.code) == (422, "validation_error")
    assert reason in reply.body["detail"]
    assert [error["field"] for error in reply.body["errors"]] == ["url"]
    listed = await strict_notifier.call("GET", "/v1/admin/webhooks", admin(strict_notifier),
                                        params={"limit": "200"})
    assert url not in {item["url"] for item in listed.body["items"]}


async def test_changing_an_endpoint_to_a_refused_destination_is_422(strict_notifier):
    endpoint_id = await strict_notifier.db.fetchval(
        "INSERT INTO webhook_endpoints (id, url, event_types, secret, enabled) "
        "VALUES ($1, $2, $3, 'whsec_AAAA', false) RETURNING id",
        uuid.uuid4(), "https://hooks.example.org/smartslot", ["appointment.confirmed"])

    reply = await strict_notifier.call("PATCH", f"/v1/admin/webhooks/{endpoint_id}", admin(strict_notifier),
                                       {"url": "https://169.254.169.254/"})

    assert (reply.status, reply.code) == (422, "validation_error")
    url = await strict_notifier.db.fetchval("SELECT url FROM webhook_endpoints WHERE id = $1", endpoint_id)
    assert url == "https://hooks.example.org/smartslot"


async def test_a_name_that_resolves_to_a_private_address_at_delivery_is_never_called(strict_notifier):
    # Registered while the name led to a public address (written straight to the table here); at delivery it
    # resolves to loopback, where a receiver is listening.
    name = unique("rebound")
    port = strict_notifier.receivers.server.port
    endpoint_id = await strict_notifier.db.fetchval(
        "INSERT INTO webhook_endpoints (id, url, event_types, secret) VALUES ($1, $2, $3, $4) RETURNING id",
        uuid.uuid4(), f"https://localhost:{port}/hooks/{name}", ["appointment.confirmed"],
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

    event = await strict_notifier.publish("appointment.confirmed", strict_notifier.appointment())

    [delivery] = [row for row in await strict_notifier.settled(event.id) if row["endpoint_id"] == endpoint_id]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert delivery["last_error"].startswith("refused: localhost resolves to a refused address: ")
    assert "is a loopback address" in delivery["last_error"]
    assert strict_notifier.receivers.to(name) == []
    log = await strict_notifier.call("GET", f"/v1/admin/webhooks/{endpoint_id}/deliveries", admin(strict_notifier))
    [entry] = log.body["items"]
    assert (entry["status"], entry["last_response_code"]) == ("failed", None)
    assert entry["last_error"] == delivery["last_error"]
    shown = await strict_notifier.call("GET", f"/v1/admin/webhooks/{endpoint_id}", admin(strict_notifier))
    assert shown.body["consecutive_failures"] == 1
