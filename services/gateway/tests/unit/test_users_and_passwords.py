"""Users answer their own role questions; emails normalise; passwords are argon2id and never verify by accident."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.adapters.passwords import hash_password, verify_password
from gateway.domain.users import USER_KINDS, Admin, Client, ServiceProvider, User, normalise_email, user_of
from gateway.entrypoints import schemas

USER_ID = uuid.uuid4()

# (kind, role, manages users, manages catalog, books)
ROLE_ANSWERS = [
    (Client, "client", False, False, True),
    (ServiceProvider, "provider", False, False, False),
    (Admin, "admin", True, True, False),
]


@pytest.mark.parametrize(("kind", "role", "users", "catalog", "books"), ROLE_ANSWERS)
def test_each_kind_of_user_answers_its_own_role_questions(
    kind: type[User], role: str, users: bool, catalog: bool, books: bool
) -> None:
    user = kind(id=USER_ID, email="a@example.com", name="A")
    assert user.role == role
    assert (user.can_manage_users(), user.can_manage_catalog(), user.can_book()) == (users, catalog, books)


def test_the_plain_base_user_may_do_nothing() -> None:
    user = User(id=USER_ID, email="a@example.com", name="A")
    assert (user.can_manage_users(), user.can_manage_catalog(), user.can_book()) == (False, False, False)


@pytest.mark.parametrize(("kind", "role", "users", "catalog", "books"), ROLE_ANSWERS)
def test_a_stored_role_becomes_the_right_kind(
    kind: type[User], role: str, users: bool, catalog: bool, books: bool
) -> None:
    user = user_of(role, USER_ID, "a@example.com", "A")
    assert type(user) is kind
    assert user.public() == {"id": USER_ID, "email": "a@example.com", "name": "A", "role": role}


def test_the_roles_are_exactly_the_three_of_the_api() -> None:
    assert set(USER_KINDS) == {"client", "provider", "admin"}
    with pytest.raises(KeyError):
        user_of("superuser", USER_ID, "a@example.com", "A")


def test_the_role_is_not_an_instance_field_and_users_are_immutable() -> None:
    user = Client(id=USER_ID, email="a@example.com", name="A")
    assert "role" not in {field.name for field in dataclasses.fields(user)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.email = "b@example.com"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("Alice@Example.COM", "alice@example.com"), ("  bob@example.com\t", "bob@example.com"),
     ("carol@example.com", "carol@example.com")],
)
def test_emails_normalise_to_trimmed_lower_case(raw: str, normal: str) -> None:
    assert normalise_email(raw) == normal


@given(st.emails())
def test_normalising_is_idempotent_and_ignores_case(email: str) -> None:
    once = normalise_email(email)
    assert normalise_email(once) == once
    assert normalise_email(email.upper()) == normalise_email(email.lower())


def test_the_register_body_accepts_a_display_form_and_keeps_the_address() -> None:
    body = schemas.Register(email="  Bob <Bob@Example.com> ", password="long-enough", name="Bob")
    assert normalise_email(body.email) == "bob@example.com"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long-enough", "name": "A"},
        {"email": "a@example.com", "password": "short", "name": "A"},
        {"email": "a@example.com", "password": "long-enough", "name": ""},
        {"email": "a@example.com", "password": "long-enough", "name": "   "},
        {"email": "a@example.com", "password": "long-enough", "name": "A", "role": "admin"},
    ],
    ids=["bad-email", "short-password", "empty-name", "blank-name", "self-chosen-role"],
)
def test_bad_registrations_are_refused_by_the_schema(body: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        schemas.Register(**body)


def test_the_admin_may_choose_only_the_three_roles() -> None:
    body = {"email": "a@example.com", "password": "long-enough", "name": "A"}
    assert schemas.CreateUser(**body, role="provider").role == "provider"
    with pytest.raises(ValidationError):
        schemas.CreateUser(**body, role="root")
    with pytest.raises(ValidationError):
        schemas.ChangeRole(role="system")


# --- passwords -------------------------------------------------------------------------------------------------


async def test_a_password_hash_is_argon2id_and_salted() -> None:
    first, second = await hash_password("correct horse"), await hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second
    assert "correct horse" not in first


async def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    stored = await hash_password("correct horse")
    assert await verify_password(stored, "correct horse") is True
    assert await verify_password(stored, "correct horse ") is False
    assert await verify_password(stored, "") is False


async def test_an_unknown_user_never_verifies() -> None:
    assert await verify_password(None, "anything") is False
    # Not even the password of the timing-equaliser hash that the unknown-user path verifies against.
    assert await verify_password(None, "smartslot-timing-equaliser") is False


async def test_a_corrupt_stored_hash_does_not_verify() -> None:
    assert await verify_password("not-a-hash", "anything") is False
    assert await verify_password("$argon2id$v=19$m=65536,t=3,p=4$broken", "anything") is False
