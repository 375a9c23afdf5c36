"""Gateway settings: env prefix `SMARTSLOT_GATEWAY_`, plus the shared identity knobs (tokens, and the key that
signs the identity it forwards)."""

import json
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from limits import parse
from pydantic import Field, IPvAnyNetwork, SecretStr, ValidationInfo, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from gateway.domain.users import EmailAddress
from smartslot_common.settings import IdentitySettings, shared

UPSTREAM_NAMES = ("booking", "availability", "waitlist", "notifier", "console")


class GatewaySettings(IdentitySettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_GATEWAY_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "gateway"

    port: int = 8080
    booking_url: str = "http://127.0.0.1:8081"
    availability_url: str = "http://127.0.0.1:8082"
    waitlist_url: str = "http://127.0.0.1:8083"
    notifier_url: str = "http://127.0.0.1:8084"
    console_url: str = "http://127.0.0.1:8085"  # the web console: every path outside /v1, /docs and the operators'
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed to call from a browser: comma-separated or a JSON list")
    # Proxies (ingress, load balancer, the console) believed when they name the client they forward for; none by
    # default, so a caller's own X-Forwarded-For changes nothing. Addresses or CIDRs, comma-separated or JSON.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list, description="addresses or networks of trusted proxies: comma-separated or a JSON list")
    # The header those proxies append the client to; the other one is ignored (a proxy passes on what it does not
    # write itself, so a client could forge it).
    forwarded_header: Literal["X-Forwarded-For", "Forwarded"] = "X-Forwarded-For"

    # Routing: every upstream call has a deadline; `None` per upstream means the shared default.
    upstream_timeout_seconds: float = Field(5.0, gt=0, le=120)
    booking_timeout_seconds: float | None = Field(None, gt=0, le=120)
    availability_timeout_seconds: float | None = Field(None, gt=0, le=120)
    waitlist_timeout_seconds: float | None = Field(None, gt=0, le=120)
    notifier_timeout_seconds: float | None = Field(None, gt=0, le=120)
    console_timeout_seconds: float | None = Field(None, gt=0, le=120)
    # A stream (server-sent events, or a console page) may stay quiet this long between two reads before it is cut;
    # streams send a heartbeat at least every 15 s.
    stream_idle_seconds: float = Field(60.0, gt=15, le=3600)
    get_retries: int = Field(2, ge=0, le=5, description="extra attempts of an idempotent GET")
    retry_backoff_seconds: float = Field(0.05, ge=0, le=5)
    breaker_failure_threshold: int = Field(5, ge=1, le=1000)
    breaker_cooldown_seconds: float = Field(5.0, gt=0, le=600)
    health_timeout_seconds: float = Field(1.0, gt=0, le=30)

    # Rate limits in the `limits` notation ("N/second|minute|hour|day"): sliding-window counters in each process,
    # shared through Redis every sync interval (a key can go over its limit by what is admitted in one interval).
    rate_limit_enabled: bool = True
    rate_limit_user: str = "600/minute"
    rate_limit_ip: str = "300/minute"
    rate_limit_auth: str = "10/minute"
    rate_limit_booking: str = "30/minute"
    rate_limit_redis_timeout_seconds: float = Field(0.25, gt=0, le=5)
    rate_limit_sync_interval_seconds: float = Field(0.2, ge=0.01, le=10)
    # Role changes are followed in memory through a Redis channel; after the subscription broke, try again this soon.
    role_marks_resubscribe_seconds: float = Field(0.5, gt=0, le=60)
    # Read-your-writes: the slot a caller held or booked is sent with its searches this long, so availability never
    # lists it to that caller from a page cached before (adapters/own_writes: three page lifetimes plus the
    # replica-lag limit, 3 x 30 + 30 s by default); 0 turns it off.
    own_writes_seconds: float = Field(120.0, ge=0, le=3600)
    own_writes_callers: int = Field(50_000, ge=1, le=10_000_000, description="callers whose writes a process keeps")
    # Where more than one gateway process or replica serves, each shares its callers' writes with the others through
    # Redis (a script call per write and a message to every process: about 0.4 ms of gateway CPU per booking, measured
    # with bench.profile); one process alone keeps them in memory and needs no Redis for them.
    own_writes_shared: bool = False
    # Storm losers: a slot booking refuses to every claim alike (held or full) is refused here as long as booking says
    # it keeps refusing it, and never longer than this (adapters/refused_slots); 0 sends every claim to booking.
    refused_slots_seconds: float = Field(1.0, ge=0, le=10)

    jwt_algorithm: Literal["HS256", "RS256"] = shared("HS256", "jwt_algorithm")
    jwt_secret: SecretStr | None = shared(None, "jwt_secret", min_length=32, validate_default=True)
    jwt_private_key_file: Path | None = shared(None, "jwt_private_key_file", validate_default=True)
    jwt_public_key_file: Path | None = shared(None, "jwt_public_key_file", validate_default=True)
    jwt_issuer: str = shared("smartslot", "jwt_issuer")
    jwt_audience: str = shared("smartslot-api", "jwt_audience")
    # Short on purpose: it bounds how long a changed role can linger in a token when Redis cannot say so sooner.
    access_token_ttl_seconds: int = shared(900, "access_token_ttl_seconds", ge=60, le=86400)
    # The same rule as a registration's address, so the first admin can always be created and sign in.
    bootstrap_admin_email: EmailAddress | None = shared(None, "bootstrap_admin_email")
    bootstrap_admin_password: SecretStr | None = shared(None, "bootstrap_admin_password")

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            return json.loads(value)
        return [origin.strip() for origin in value.split(",") if origin.strip()]

    @field_validator("rate_limit_user", "rate_limit_ip", "rate_limit_auth", "rate_limit_booking")
    @classmethod
    def _parsable_limit(cls, value: str) -> str:
        parse(value)  # raises ValueError on anything the limiter cannot read
        return value

    # Field validators (not a model validator) so that a start-up error names the variable to fix.
    @field_validator("jwt_secret")
    @classmethod
    def _secret_for_hs256(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("jwt_algorithm") == "HS256" and value is None:
            raise ValueError("required with HS256 (at least 32 characters)")
        return value

    @field_validator("jwt_private_key_file", "jwt_public_key_file")
    @classmethod
    def _key_files_for_rs256(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if info.data.get("jwt_algorithm") == "RS256" and (value is None or not value.is_file()):
            raise ValueError("RS256 needs a readable PEM file here")
        return value

    def timeout_for(self, upstream: str) -> float:
        """The deadline of one call to `upstream`."""
        own = getattr(self, f"{upstream}_timeout_seconds")
        return own if own is not None else self.upstream_timeout_seconds

    def url_for(self, upstream: str) -> str:
        """The base URL of `upstream`, without a trailing slash."""
        return str(getattr(self, f"{upstream}_url")).rstrip("/")
