"""Through the whole stack: an admin cannot demote themselves, nor another admin the bootstrap admin; both stay
admins and their tokens keep working."""

from __future__ import annotations

import secrets

import pytest

from smartslot_common.api_client import ApiClient

pytestmark = pytest.mark.e2e


async def test_an_admin_cannot_lock_the_admins_out(api: ApiClient, admin_token: str) -> None:
    bootstrap = (await api.call("GET", "/v1/me", admin_token)).body
    demoted_self = await api.call("PATCH", f"/v1/admin/users/{bootstrap['id']}", admin_token, {"role": "client"})
    assert (demoted_self.status, demoted_self.body["code"]) == (409, "invalid_transition"), demoted_self.body

    email, password = f"admin-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    created = await api.call("POST", "/v1/admin/users", admin_token,
                             {"email": email, "password": password, "name": "Second Admin", "role": "admin"})
    assert created.status == 201, created.body
    second = await api.token(email, password)
    demoted_bootstrap = await api.call("PATCH", f"/v1/admin/users/{bootstrap['id']}", second, {"role": "provider"})
    assert (demoted_bootstrap.status, demoted_bootstrap.body["code"]) == (409, "invalid_transition")

    for token in (admin_token, second):
        assert (await api.call("GET", "/v1/admin/users", token)).status == 200
