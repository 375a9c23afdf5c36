"""Gateway settings: env prefix `SMARTSLOT_GATEWAY_`, plus the shared identity knobs."""

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from smartslot_common.settings import ServiceSettings, shared


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_GATEWAY_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "gateway"

    port: int = 8080
    booking_url: str = "http://127.0.0.1:8081"
    availability_url: str = "http://127.0.0.1:8082"
    waitlist_url: str = "http://127.0.0.1:8083"
    notifier_url: str = "http://127.0.0.1:8084"
    upstream_timeout_seconds: float = Field(5.0, gt=0)

    jwt_secret: SecretStr = shared(..., "jwt_secret", min_length=32)
    jwt_issuer: str = shared("smartslot", "jwt_issuer")
    jwt_audience: str = shared("smartslot-api", "jwt_audience")
    access_token_ttl_seconds: int = shared(3600, "access_token_ttl_seconds", ge=60, le=86400)
    bootstrap_admin_email: str | None = shared(None, "bootstrap_admin_email")
    bootstrap_admin_password: SecretStr | None = shared(None, "bootstrap_admin_password")
