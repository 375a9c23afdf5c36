"""Typed settings shared by every service; each service subclasses `ServiceSettings`."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SHARED_PREFIX = "SMARTSLOT_"


def shared(default: Any, name: str, **kwargs: Any) -> Any:
    """A field read from the shared `SMARTSLOT_<NAME>` variable rather than the service's prefix.

    Only the prefixed name is an alias: a bare `DATABASE_URL` or `LOG_LEVEL` belongs to some other program.
    Keyword arguments may still use the field's name (`populate_by_name`).
    """
    return Field(default, validation_alias=SHARED_PREFIX + name.upper(), **kwargs)


class ServiceSettings(BaseSettings):
    """Settings every service has: where its dependencies are and how it observes itself.

    Subclasses set `service_name`, `default_port` and `model_config` with env prefix `SMARTSLOT_<NAME>_`.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "service"

    host: str = "127.0.0.1"
    port: int = 8000
    shutdown_timeout_seconds: float = 10.0
    # Connections the kernel queues before accept(); a burst beyond it is dropped and the client's SYN is retried a
    # second later. The kernel caps it at net.core.somaxconn.
    listen_backlog: int = Field(2048, ge=1)

    database_url: SecretStr = shared(SecretStr("postgresql://postgres@127.0.0.1:5432/smartslot"), "database_url")
    redis_url: SecretStr = shared(SecretStr("redis://127.0.0.1:6379/0"), "redis_url")
    amqp_url: SecretStr = shared(SecretStr("amqp://guest:guest@127.0.0.1:5672/"), "amqp_url")
    namespace: str = shared("", "namespace", description="prefix of exchange, queue and Redis key names")
    # classic on one broker node, quorum on a cluster: see smartslot_common/messaging/topology.py
    amqp_queue_type: Literal["classic", "quorum"] = shared("classic", "amqp_queue_type")
    log_level: str = shared("INFO", "log_level")
    log_json: bool = shared(True, "log_json")
    # Tracing (smartslot_common/tracing.py): the standard OTEL_* variables win over these two where both are set.
    otel_exporter_otlp_endpoint: str | None = shared(None, "otel_exporter_otlp_endpoint")
    otel_traces_sample_ratio: float = shared(1.0, "otel_traces_sample_ratio", ge=0.0, le=1.0)
    # Where this deployment runs (production, staging, ...): the traces' deployment.environment.name.
    environment: str | None = shared(None, "environment", min_length=1, max_length=100)
    db_pool_min_size: int = shared(2, "db_pool_min_size", ge=1)
    db_pool_max_size: int = shared(10, "db_pool_max_size", ge=1)

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Read the environment (and `SMARTSLOT_SECRETS_DIR` files), validating everything up front."""
        secrets_dir = os.environ.get(SHARED_PREFIX + "SECRETS_DIR")
        if secrets_dir:
            return cls(_secrets_dir=secrets_dir, **overrides)
        return cls(**overrides)

    def redis_key(self, *parts: str) -> str:
        """A Redis key inside this deployment's namespace."""
        return self.namespace + "smartslot:" + ":".join(parts)


class IdentitySettings(ServiceSettings):
    """Settings of a service that forwards a caller's identity (the gateway) or reads it (the services behind it):
    the key that signs it between them, and how long one signature is good for."""

    internal_identity_key: SecretStr | None = shared(
        None, "internal_identity_key", min_length=32, validate_default=True)
    # Covers the clock difference between two hosts and a request's time in flight, and no more: a signature captured
    # on the internal network is worth nothing to anyone this long after it was made.
    internal_identity_max_age_seconds: int = shared(30, "internal_identity_max_age_seconds", ge=1, le=300)

    @field_validator("internal_identity_key")
    @classmethod
    def _key_required(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            raise ValueError("required: the key the gateway signs forwarded identities with (at least 32 characters)")
        return value
