"""Console settings: env prefix `SMARTSLOT_CONSOLE_`."""

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from smartslot_common.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSLOT_CONSOLE_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "console"

    port: int = 8085
    # The gateway's address as the console reaches it: every page is made of /v1 calls there.
    gateway_url: str = "http://127.0.0.1:8080"
    api_timeout_seconds: float = Field(10.0, gt=0, le=120)
    # Seals the session cookie (encrypted and authenticated). Unset: a random key per process, so sessions end when
    # it restarts and replicas do not share them; set it (32+ characters) wherever more than one console runs.
    session_secret: SecretStr | None = Field(None, min_length=32)
    # Secure cookies also over plain HTTP (a TLS terminator in front that does not say X-Forwarded-Proto: https).
    force_secure_cookies: bool = False
    # How long catalog answers (services, clinics, providers) are reused across requests of this process.
    catalog_ttl_seconds: float = Field(30.0, ge=0, le=3600)
    # Live pages: a comment this often keeps idle connections (and proxies in between) open.
    heartbeat_seconds: float = Field(15.0, gt=0, le=60)

    def gateway(self) -> str:
        """The gateway's base URL without a trailing slash."""
        return self.gateway_url.rstrip("/")
