"""The one envelope every SmartSlot event travels in, on the wire and in the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Self
from uuid import UUID, uuid4

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator

from smartslot_common.tracing import trace_headers

# On a message that carries several events (a JSON array of envelopes): how many.
EVENTS_HEADER = "smartslot-events"


class InvalidEnvelope(ValueError):
    """A message body that is not a valid event envelope."""


class Event(BaseModel):
    """An immutable fact one service tells the others; `type` is also the routing key."""

    # Unknown fields are ignored so that a newer producer does not break an older consumer.
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    type: str
    version: int = 1
    occurred_at: AwareDatetime
    producer: str
    correlation_id: str | None = None
    traceparent: str | None = None
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def create(cls, type: str, payload: dict[str, Any], producer: str, correlation_id: str | None = None) -> Self:
        """A new event stamped with a fresh id, the current time and the current trace context."""
        return cls(
            id=uuid4(),
            type=type,
            occurred_at=datetime.now(UTC),
            producer=producer,
            correlation_id=correlation_id,
            traceparent=current_traceparent(),
            payload=payload,
        )

    def to_json(self) -> bytes:
        """The envelope as JSON bytes."""
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, body: bytes | str) -> Self:
        """Decode an envelope; raise `InvalidEnvelope` when the body is not one."""
        try:
            return cls.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError) as error:
            raise InvalidEnvelope(str(error)) from error


def events_of(body: bytes | str) -> list[Event]:
    """The events a message carries: one envelope, or several in a JSON array (a relay sends the consecutive events
    of one routing key together); raise `InvalidEnvelope` when the body, or any envelope in it, is not one."""
    try:
        decoded = orjson.loads(body)
        if isinstance(decoded, list) and decoded:
            return [Event.model_validate(envelope) for envelope in decoded]
        return [Event.model_validate(decoded)]
    except (orjson.JSONDecodeError, ValidationError) as error:
        raise InvalidEnvelope(str(error)) from error


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current OpenTelemetry context, if a span is active."""
    return trace_headers().get("traceparent")
