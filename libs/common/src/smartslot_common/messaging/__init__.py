"""Events between services: the envelope, the outbox and its relay, the publisher, consumers and topology."""

from smartslot_common.messaging.applying import GatheringHandlers
from smartslot_common.messaging.consumer import AfterCommit, EventConsumer, Handler, IdempotentHandler
from smartslot_common.messaging.context import (
    amqp_context,
    amqp_readiness,
    connect_amqp,
    consumer_context,
    relay_context,
)
from smartslot_common.messaging.envelope import Event, InvalidEnvelope
from smartslot_common.messaging.errors import MessagingError, PermanentError, PublishFailed, Unroutable
from smartslot_common.messaging.outbox import (
    RELAY_IN_PROCESS,
    RELAY_IN_PROCESS_SETTING,
    OutboxRelay,
    add_to_outbox,
    outbox_row,
    wake_local_relays,
    woken_by_local_commits,
)
from smartslot_common.messaging.publisher import EventPublisher
from smartslot_common.messaging.topology import RETRY_DELAYS, declare_topology

__all__ = [
    "RELAY_IN_PROCESS",
    "RELAY_IN_PROCESS_SETTING",
    "RETRY_DELAYS",
    "AfterCommit",
    "Event",
    "EventConsumer",
    "EventPublisher",
    "GatheringHandlers",
    "Handler",
    "IdempotentHandler",
    "InvalidEnvelope",
    "MessagingError",
    "OutboxRelay",
    "PermanentError",
    "PublishFailed",
    "Unroutable",
    "add_to_outbox",
    "amqp_context",
    "amqp_readiness",
    "connect_amqp",
    "consumer_context",
    "declare_topology",
    "outbox_row",
    "relay_context",
    "wake_local_relays",
    "woken_by_local_commits",
]
