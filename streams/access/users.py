"""Control-room users: who they are, what they may see and do, and checking their passwords.

Users live on the compacted ``cargo.users`` topic (``schemas/user.avsc``),
written by ``cargoguard users`` and followed by every worker, so a user added
or a password changed counts on every worker within a second. Passwords are
hashed with argon2id (argon2-cffi); the plain password is never stored or logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

Role = Literal["OFFICER", "SUPERVISOR", "ANALYST", "VIEWER"]
ROLES: tuple[Role, ...] = ("OFFICER", "SUPERVISOR", "ANALYST", "VIEWER")

_HASHER = PasswordHasher()
# Checked when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` in PHC string form."""
    return _HASHER.hash(password)


@dataclass(frozen=True, slots=True)
class User:
    """One control-room user."""

    username: str
    role: Role
    offices: frozenset[str]
    password_hash: str
    changed_at: int

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> User:
        """A ``user.avsc`` record as a User."""
        return cls(username=record["username"], role=record["role"], offices=frozenset(record["offices"]),
                   password_hash=record["password_hash"], changed_at=record["changed_at"])

    def record(self) -> dict[str, Any]:
        """The ``user.avsc`` record of this user."""
        return {"username": self.username, "role": self.role, "offices": sorted(self.offices),
                "password_hash": self.password_hash, "changed_at": self.changed_at}

    def sees_office(self, office_code: str) -> bool:
        """Whether this user may see what happens at ``office_code``.

        Officers see their offices; viewers theirs, or all when they have none;
        supervisors and analysts see every office.
        """
        if self.role == "OFFICER" or (self.role == "VIEWER" and self.offices):
            return office_code in self.offices
        return True

    def acts_on_office(self, office_code: str) -> bool:
        """Whether this user may act on a case at ``office_code`` (take, note, dispose...)."""
        if self.role == "SUPERVISOR":
            return True
        return self.role == "OFFICER" and office_code in self.offices

    @property
    def reads_outcomes(self) -> bool:
        """Whether this user sees outcome statistics (each rule's precision)."""
        return self.role in ("ANALYST", "SUPERVISOR")

    @property
    def supervises(self) -> bool:
        """Whether this user may reassign and reopen cases."""
        return self.role == "SUPERVISOR"

    def public(self) -> dict[str, Any]:
        """What the page may know of this user (no hash)."""
        return {"username": self.username, "role": self.role, "offices": sorted(self.offices)}


class UserDirectory:
    """The users a worker knows: the users topic, applied record by record."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    def apply(self, username: str, record: Mapping[str, Any] | None) -> None:
        """Apply one record of the users topic (``None``, a tombstone, removes the user)."""
        if record is None:
            self.users.pop(username, None)
        else:
            self.users[username] = User.from_record(record)

    def get(self, username: str) -> User | None:
        """The user named ``username``, if there is one."""
        return self.users.get(username)

    def check_password(self, username: str, password: str) -> User | None:
        """The user, when ``password`` is theirs; else ``None`` (unknown users take as long)."""
        user = self.users.get(username)
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return user
