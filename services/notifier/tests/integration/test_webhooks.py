"""Webhooks: admins register endpoints; deliveries are signed as Standard Webhooks (checked with the independent
`standardwebhooks` package), retried with backoff from the deliveries table, and endpoints are disabled after a
410 or repeated failures; every attempt shows in the delivery log."""

from __future__ import annotations

import itertools
import uuid

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration


def admin(notifier):
    return notifier.who("admin", uuid.uuid4())


async def register(notifier, name, event_types=("appointment.confirmed",)):
    reply = await notifier.call("POST", "/v1/admin/webhooks", admin(notifier), {
        "url": notifier.receivers.url(name), "event_types": list(event_types), "description": f"test {name}",
    })
    assert reply.status == 201, reply.body
    return reply.body


def unique(label):
    return f"{label}-{uuid.uuid4().hex[:8]}"


async def calls_to(notifier, name, count):
    async def arrived():
        calls = notifier.receivers.to(name)
        return calls if len(calls) >= count else None

    return await wait_for(arrived, 15, what=f"{count} call(s) to {name}")


async def endpoint(notifier, endpoint_id):
    reply = await notifier.call("GET", f"/v1/admin/webhooks/{endpoint_id}", admin(notifier))
    assert reply.status == 200, reply.body
    return reply.body


async def delivery_log(notifier, endpoint_id, **params):
    reply = await notifier.call("GET", f"/v1/admin/webhooks/{endpoint_id}/deliveries", admin(notifier),
                                params=params)
    assert reply.status == 200, reply.body
    return reply.body


async def applied(notifier, event):
    async def claimed():
        return await notifier.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event.id)

    await wait_for(claimed, 15, what=f"{event.type} applied")


async def test_only_admins_manage_endpoints_and_the_secret_is_shown_once(notifier):
    client = notifier.who("client", uuid.uuid4())
    body = {"url": notifier.receivers.url("x"), "event_types": ["appointment.confirmed"]}

    assert (await notifier.call("POST", "/v1/admin/webhooks", client, body)).status == 404
    assert (await notifier.call("GET", "/v1/admin/webhooks", client)).status == 404
    created = await register(notifier, unique("secret"))

    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True
    shown = await endpoint(notifier, created["id"])
    assert "secret" not in shown
    listed = (await notifier.call("GET", "/v1/admin/webhooks", admin(notifier), params={"limit": "200"})).body
    assert created["id"] in {item["id"] for item in listed["items"]}
    assert all("secret" not in item for item in listed["items"])
    assert (await notifier.call("GET", f"/v1/admin/webhooks/{created['id']}", client)).status == 404


@pytest.mark.parametrize("body", [
    {"url": "ftp://example.com/hook", "event_types": ["appointment.confirmed"]},
    {"url": "https://user:pw@example.com/hook", "event_types": ["appointment.confirmed"]},
    {"url": "https://example.com/hook", "event_types": ["slot.created"]},
    {"url": "https://example.com/hook", "event_types": []},
    {"url": "https://example.com/hook", "event_types": ["appointment.confirmed"], "secret": "mine"},
])
async def test_invalid_registrations_are_refused(notifier, body):
    reply = await notifier.call("POST", "/v1/admin/webhooks", admin(notifier), body)

    assert (reply.status, reply.code) == (422, "validation_error")


async def test_deliveries_verify_with_standardwebhooks(notifier):
    name = unique("signed")
    created = await register(notifier, name, ["appointment.confirmed", "appointment.cancelled"])
    payload = notifier.appointment()

    event = await notifier.publish("appointment.confirmed", payload)

    [call] = await calls_to(notifier, name, 1)
    verified = Webhook(created["secret"]).verify(call.body, call.headers)
    assert verified["type"] == "appointment.confirmed"
    assert verified["data"]["appointment_id"] == payload["appointment_id"]
    assert verified["data"]["event_id"] == str(event.id)
    await notifier.settled(event.id)  # the call arrives before its answer is recorded
    [entry] = (await delivery_log(notifier, created["id"]))["items"]
    assert entry["webhook_id"] == call.headers["webhook-id"]
    assert (entry["status"], entry["attempts"], entry["last_response_code"]) == ("sent", 1, 200)
    assert entry["event_type"] == "appointment.confirmed"
    assert entry["event_id"] == str(event.id)


async def test_event_types_not_subscribed_are_not_sent(notifier):
    name = unique("picky")
    created = await register(notifier, name, ["appointment.cancelled"])

    await applied(notifier, await notifier.publish("appointment.confirmed", notifier.appointment()))

    assert (await delivery_log(notifier, created["id"]))["items"] == []
    assert notifier.receivers.to(name) == []


async def test_failures_are_retried_with_backoff_under_one_webhook_id(notifier):
    name = unique("flaky")
    created = await register(notifier, name)
    notifier.receivers.scripts[name] = [500, 503]

    await notifier.publish("appointment.confirmed", notifier.appointment())

    calls = await calls_to(notifier, name, 3)
    assert len({call.headers["webhook-id"] for call in calls}) == 1
    for call in calls:  # each attempt signed afresh, each valid
        Webhook(created["secret"]).verify(call.body, call.headers)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4

    async def logged():
        [entry] = (await delivery_log(notifier, created["id"]))["items"]
        return entry if entry["status"] == "sent" else None

    entry = await wait_for(logged, 15, what="the delivery logged as sent")
    assert (entry["attempts"], entry["last_response_code"], entry["last_error"]) == (3, 200, None)
    shown = await endpoint(notifier, created["id"])
    assert (shown["enabled"], shown["consecutive_failures"]) == (True, 0)


async def test_410_disables_the_endpoint_at_once(notifier):
    name = unique("gone")
    created = await register(notifier, name)
    notifier.receivers.scripts[name] = [410]

    await notifier.publish("appointment.confirmed", notifier.appointment())

    await calls_to(notifier, name, 1)

    async def disabled():
        shown = await endpoint(notifier, created["id"])
        return shown if not shown["enabled"] else None

    shown = await wait_for(disabled, 15, what="the endpoint disabled")
    assert "410" in shown["disabled_reason"]
    [entry] = (await delivery_log(notifier, created["id"]))["items"]
    assert (entry["status"], entry["attempts"], entry["last_response_code"]) == ("failed", 1, 410)
    await applied(notifier, await notifier.publish("appointment.confirmed", notifier.appointment()))
    assert len((await delivery_log(notifier, created["id"]))["items"]) == 1
    assert len(notifier.receivers.to(name)) == 1


async def test_repeated_failures_disable_the_endpoint_and_it_can_be_enabled_again(notifier):
    name = unique("down")
    created = await register(notifier, name)
    notifier.receivers.always[name] = 500
    disable_after = notifier.settings.webhook_disable_after_failures

    await notifier.publish("appointment.confirmed", notifier.appointment())

    async def disabled():
        shown = await endpoint(notifier, created["id"])
        return shown if not shown["enabled"] else None

    shown = await wait_for(disabled, 15, what="the endpoint disabled")
    assert shown["consecutive_failures"] == disable_after
    assert f"{disable_after} consecutive" in shown["disabled_reason"]
    assert len(notifier.receivers.to(name)) == disable_after
    [entry] = (await delivery_log(notifier, created["id"], status="failed"))["items"]
    assert entry["attempts"] == disable_after
    assert "endpoint disabled" in entry["last_error"]

    notifier.receivers.always.pop(name)
    enabled = await notifier.call("PATCH", f"/v1/admin/webhooks/{created['id']}", admin(notifier), {"enabled": True})
    assert enabled.status == 200, enabled.body
    assert (enabled.body["enabled"], enabled.body["consecutive_failures"], enabled.body["disabled_reason"]) == (
        True, 0, None)
    await notifier.publish("appointment.confirmed", notifier.appointment())
    await calls_to(notifier, name, disable_after + 1)


async def test_log_pages_and_endpoint_removal(notifier):
    name = unique("paged")
    created = await register(notifier, name)
    for _ in range(3):
        await notifier.publish("appointment.confirmed", notifier.appointment())
    await calls_to(notifier, name, 3)

    first = await delivery_log(notifier, created["id"], limit="2")
    second = await delivery_log(notifier, created["id"], limit="2", cursor=first["next_cursor"])

    assert (len(first["items"]), len(second["items"]), second["next_cursor"]) == (2, 1, None)
    assert (await notifier.call("DELETE", f"/v1/admin/webhooks/{created['id']}", admin(notifier))).status == 204
    assert (await notifier.call("GET", f"/v1/admin/webhooks/{created['id']}", admin(notifier))).status == 404
    assert (await notifier.call("DELETE", f"/v1/admin/webhooks/{created['id']}", admin(notifier))).status == 404


async def test_a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends(notifier):
    name = unique("rotated")
    created = await register(notifier, name)
    client = notifier.who("client", uuid.uuid4())
    assert (await notifier.call("POST", f"/v1/admin/webhooks/{created['id']}/rotate-secret", client)).status == 404
    assert (await notifier.call("POST", f"/v1/admin/webhooks/{uuid.uuid4()}/rotate-secret",
                                admin(notifier))).status == 404

    rotated = await notifier.call("POST", f"/v1/admin/webhooks/{created['id']}/rotate-secret", admin(notifier))

    assert rotated.status == 200, rotated.body
    new_secret = rotated.body["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != created["secret"]
    assert rotated.body["previous_secret_expires_at"] is not None
    assert "secret" not in await endpoint(notifier, created["id"])
    await notifier.publish("appointment.confirmed", notifier.appointment())
    [during] = await calls_to(notifier, name, 1)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new_secret).verify(during.body, during.headers)["type"] == "appointment.confirmed"
    assert Webhook(created["secret"]).verify(during.body, during.headers)["type"] == "appointment.confirmed"

    # The overlap ends: only the new secret signs.
    await notifier.db.execute("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' "
                              "WHERE id = $1", uuid.UUID(created["id"]))
    assert (await endpoint(notifier, created["id"]))["previous_secret_expires_at"] is None
    await notifier.publish("appointment.confirmed", notifier.appointment())
    after = (await calls_to(notifier, name, 2))[1]
    assert Webhook(new_secret).verify(after.body, after.headers)["type"] == "appointment.confirmed"
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(after.body, after.headers)
