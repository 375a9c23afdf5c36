"""Topology names and queue arguments, and start-up failure when the broker is not there."""

from __future__ import annotations

import pytest

from smartslot_common.contracts.events import (
    SUBSCRIPTIONS,
    always_routed_types,
    handled_types,
    routing_key,
    topic_matches,
)
from smartslot_common.errors import DependencyUnavailable
from smartslot_common.messaging import connect_amqp
from smartslot_common.messaging.context import amqp_target
from smartslot_common.messaging.topology import (
    dead_letter_exchange_name,
    dead_letter_queue_name,
    exchange_name,
    main_queue_arguments,
    queue_name,
    retry_queue_arguments,
    retry_queue_name,
)


def test_names_carry_the_namespace() -> None:
    assert exchange_name("t1.") == "t1.smartslot.events"
    assert dead_letter_exchange_name("") == "smartslot.dlx"
    assert queue_name("t1.", "notifier") == "t1.smartslot.notifier"
    assert dead_letter_queue_name("t1.", "notifier") == "t1.smartslot.notifier.dlq"
    assert retry_queue_name("t1.", "notifier", 2) == "t1.smartslot.notifier.retry.2"


def test_a_classic_main_queue_dead_letters_to_its_own_dlq() -> None:
    arguments = main_queue_arguments("t1.", "waitlist")

    assert arguments == {
        "x-queue-type": "classic", "x-dead-letter-exchange": "t1.smartslot.dlx", "x-dead-letter-routing-key": "waitlist"
    }


def test_a_quorum_main_queue_has_a_delivery_limit_and_dead_letters_at_least_once() -> None:
    arguments = main_queue_arguments("t1.", "waitlist", "quorum", delivery_limit=7)

    assert arguments["x-queue-type"] == "quorum"
    assert arguments["x-delivery-limit"] == 7
    assert arguments["x-dead-letter-exchange"] == "t1.smartslot.dlx"
    assert arguments["x-dead-letter-routing-key"] == "waitlist"
    assert arguments["x-dead-letter-strategy"] == "at-least-once"


def test_retry_tier_expires_back_into_the_main_queue() -> None:
    arguments = retry_queue_arguments("t1.", "waitlist", 0.25)

    assert arguments["x-queue-type"] == "quorum"  # whatever the main queue's type: it dead-letters at least once
    assert arguments["x-message-ttl"] == 250
    assert arguments["x-dead-letter-exchange"] == ""
    assert arguments["x-dead-letter-routing-key"] == "t1.smartslot.waitlist"


def test_amqp_target_hides_credentials() -> None:
    assert amqp_target("amqp://guest:secret@broker.local:5673/vh") == "broker.local:5673"
    assert amqp_target("amqp://guest:secret@broker.local/") == "broker.local:5672"


async def test_unreachable_broker_at_start_up_names_the_dependency_and_the_fix() -> None:
    with pytest.raises(DependencyUnavailable, match=r"RabbitMQ at 127\.0\.0\.1:1\b") as raised:
        await connect_amqp("amqp://guest:guest@127.0.0.1:1/", timeout=2.0)

    assert "make infra" in str(raised.value)
    assert "guest" not in str(raised.value)


def test_an_appointment_event_is_routed_by_type_and_origin() -> None:
    assert routing_key("appointment.confirmed", {"origin": "waitlist"}) == "appointment.confirmed.waitlist"
    assert routing_key("appointment.confirmed", {}) == "appointment.confirmed.client"
    assert routing_key("appointment.confirmed", {"origin": "a.b.#"}) == "appointment.confirmed.client"
    assert routing_key("slot.released", {"origin": "waitlist"}) == "slot.released"


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("appointment.confirmed.#", "appointment.confirmed.client", True),
        ("appointment.confirmed.#", "appointment.confirmed", True),
        ("appointment.confirmed.waitlist", "appointment.confirmed.client", False),
        ("appointment.*", "appointment.confirmed.client", False),
        ("slot.*", "slot.released", True),
        ("#", "anything.at.all", True),
    ],
)
def test_topic_patterns_match_as_the_broker_does(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


def test_the_waitlist_hears_confirmations_of_its_own_holds_only() -> None:
    def bound(key: str) -> bool:
        return any(topic_matches(pattern, key) for pattern in SUBSCRIPTIONS["waitlist"])

    assert bound(routing_key("appointment.confirmed", {"origin": "waitlist"}))
    assert not bound(routing_key("appointment.confirmed", {"origin": "client"}))
    assert bound(routing_key("appointment.cancelled", {"origin": "client"}))
    assert bound(routing_key("slot.released", {}))
    assert not bound(routing_key("appointment.locked", {"origin": "waitlist"}))


def test_no_queue_hears_events_nobody_there_handles() -> None:
    assert handled_types("waitlist") == {
        "slot.released", "appointment.confirmed", "appointment.cancelled", "appointment.expired"
    }
    assert not any(name.startswith("waitlist.") for name in handled_types("availability"))
    assert not any(name.startswith(("slot.", "schedule.")) for name in handled_types("notifier"))


def test_the_types_every_event_of_which_reaches_a_queue_leave_out_those_heard_from_one_origin_only() -> None:
    # What ConsumerNotConsuming compares publications with: the waitlist hears confirmations of its own holds only.
    assert always_routed_types("waitlist") == {"slot.released", "appointment.cancelled", "appointment.expired"}
    assert always_routed_types("notifier") == handled_types("notifier")
    assert always_routed_types("availability") == handled_types("availability")
    assert always_routed_types("unknown") == frozenset()
