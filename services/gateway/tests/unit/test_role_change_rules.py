"""Which role changes could lock the administrators out, and are refused."""

from __future__ import annotations

import uuid

import pytest

from gateway.domain.users import Admin, Client, RoleChangeRefused, User, check_role_change

ACTOR = Admin(uuid.uuid4(), "actor@example.com", "Actor")
OTHER_ADMIN = Admin(uuid.uuid4(), "other@example.com", "Other")
CLIENT = Client(uuid.uuid4(), "client@example.com", "Client")


def refusal(target: User, role: str, admins: int = 3, bootstrap: str | None = None) -> str | None:
    try:
        check_role_change(ACTOR.id, target, role, admins, bootstrap)
    except RoleChangeRefused as refused:
        return str(refused)
    return None


@pytest.mark.parametrize("role", ["client", "provider"])
def test_an_admin_cannot_change_their_own_role(role: str) -> None:
    assert refusal(ACTOR, role) == "You cannot change your own role; another admin can."


def test_setting_ones_own_role_as_it_is_changes_nothing_and_is_allowed() -> None:
    assert refusal(ACTOR, "admin") is None


def test_the_last_admin_cannot_be_demoted() -> None:
    # Only reachable by a caller whose admin token outlived their own demotion (Redis down), or a race.
    assert "last admin" in (refusal(OTHER_ADMIN, "client", admins=1) or "")


def test_another_admin_can_be_demoted_while_one_remains() -> None:
    assert refusal(OTHER_ADMIN, "provider", admins=2) is None


def test_the_bootstrap_admin_cannot_be_demoted() -> None:
    assert "SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL" in (refusal(OTHER_ADMIN, "client", bootstrap="Other@Example.com ") or "")


def test_anyone_else_may_be_promoted_or_changed() -> None:
    assert refusal(CLIENT, "admin", admins=1) is None
    assert refusal(CLIENT, "provider", admins=1, bootstrap=CLIENT.email) is None
