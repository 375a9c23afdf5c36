"""Calling a service directly as the gateway would: identity headers signed with this test run's key.

The pytest plugin gives the run one key (`SMARTSLOT_INTERNAL_IDENTITY_KEY`, unless the environment names one), so
every service's settings built in a test verify with the key these helpers sign with.
"""

from __future__ import annotations

import os
import secrets

from aiohttp import ClientHandlerType, ClientMiddlewareType, ClientRequest, ClientResponse

from smartslot_common.http.identity import SIGNATURE_HEADER, USER_ID_HEADER, IdentityKey

KEY_VARIABLE = "SMARTSLOT_INTERNAL_IDENTITY_KEY"


def ensure_run_key() -> str:
    """The run's identity key, made (and put in the environment) the first time it is asked for."""
    return os.environ.setdefault(KEY_VARIABLE, secrets.token_urlsafe(48))


def run_identity_key(secret: str | None = None) -> IdentityKey:
    """A key that signs as this run's gateway does (or as that of a stack started with `secret`)."""
    return IdentityKey(secret or ensure_run_key())


def signing_middleware(key: IdentityKey | None = None) -> ClientMiddlewareType:
    """An aiohttp client middleware that signs each request carrying an identity (and not signed already) for its
    method and path, as the gateway signs what it forwards."""
    signer = key or run_identity_key()

    async def sign(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if USER_ID_HEADER in request.headers and SIGNATURE_HEADER not in request.headers:
            request.headers[SIGNATURE_HEADER] = signer.signature(request.method, request.url.raw_path_qs,
                                                                 request.headers)
        return await handler(request)

    return sign
