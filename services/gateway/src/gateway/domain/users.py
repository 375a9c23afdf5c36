"""Users: a base `User` specialised by role; each kind answers its own role questions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import AfterValidator, EmailStr


@dataclass(frozen=True)
class User:
    """Someone with an account: id, name, email, and a role fixed by the subclass."""

    id: uuid.UUID
    email: str
    name: str
    role: ClassVar[str] = "user"

    def can_manage_users(self) -> bool:
        return False

    def can_manage_catalog(self) -> bool:
        return False

    def can_book(self) -> bool:
        return False

    def can_see_operations(self) -> bool:
        """Service health and dependencies (`GET /v1/admin/health`)."""
        return False

    def public(self) -> dict[str, object]:
        """What `GET /v1/me` shows."""
        return {"id": self.id, "email": self.email, "name": self.name, "role": self.role}


class Client(User):
    role = "client"

    def can_book(self) -> bool:
        return True


class ServiceProvider(User):
    role = "provider"


class Admin(User):
    role = "admin"

    def can_manage_users(self) -> bool:
        return True

    def can_manage_catalog(self) -> bool:
        return True

    def can_see_operations(self) -> bool:
        return True


USER_KINDS: dict[str, type[User]] = {kind.role: kind for kind in (Client, ServiceProvider, Admin)}


def user_of(role: str, id: uuid.UUID, email: str, name: str) -> User:
    """The right kind of user for a stored role."""
    return USER_KINDS[role](id=id, email=email, name=name)


class RoleChangeRefused(Exception):
    """A role change that could lock the administrators out (`409`); the message says why."""


def check_role_change(actor_id: uuid.UUID, target: User, role: str, admins: int, bootstrap_email: str | None) -> None:
    """Refuse a change that could leave nobody able to administer: an admin changing their own role, demoting the
    last admin, or demoting the bootstrap admin's account (the gateway would refuse to start with it). Setting the
    role an account already has changes nothing and is allowed."""
    if role == target.role:
        return
    if target.id == actor_id:
        raise RoleChangeRefused("You cannot change your own role; another admin can.")
    if target.role != Admin.role:
        return
    if admins <= 1:
        raise RoleChangeRefused("This is the last admin; make another account an admin first.")
    if bootstrap_email is not None and target.email == normalise_email(bootstrap_email):
        raise RoleChangeRefused("This is the bootstrap admin (SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL): the gateway would "
                                "refuse to start with it demoted; configure another bootstrap address first.")


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding space."""
    return email.strip().lower()


# The one rule for an account's address, wherever one comes from (registration, an admin creating a user, the
# bootstrap admin's setting): a deliverable-looking address (email-validator, so no reserved or special-use domain
# such as .test, .invalid or .local), stored normalised.
EmailAddress = Annotated[EmailStr, AfterValidator(normalise_email)]
