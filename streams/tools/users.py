"""``cargoguard users``: add, list, change the password of and remove control-room users.

Each change is a record (or tombstone) on the compacted users topic, which
every worker follows; the password is hashed here, before it leaves the
machine it was typed on.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from streams.access.users import ROLES, Role, User, hash_password
from streams.errors import UserError
from streams.runtime.control import publish_control, read_compacted
from streams.runtime.stream_time import wall_ms
from streams.settings import Settings

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD_CHARS = 10


def current_users(settings: Settings) -> dict[str, User]:
    """Every user the users topic holds now, by name."""
    return {name: User.from_record(record) for name, record in read_compacted(settings, "users").records.items()
            if record is not None}


def one_time_password() -> str:
    """A random password to hand over once (and change)."""
    return secrets.token_urlsafe(12)


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return password


def add_user(settings: Settings, username: str, role: str, offices: Iterable[str], password: str) -> User:
    """Add a user; refuse a name already taken (``passwd`` changes a password)."""
    if not USERNAME.fullmatch(username):
        raise UserError(f"user name {username!r}: 1-64 letters, digits, '.', '_', '@' or '-', "
                        "starting with a letter or digit")
    role_name = role.upper()
    if role_name not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(r.lower() for r in ROLES)}")
    office_codes = frozenset(office.strip().upper() for office in offices if office.strip())
    if role_name == "OFFICER" and not office_codes:
        raise UserError("an officer needs at least one --office")
    if username in current_users(settings):
        raise UserError(f"user {username!r} exists; 'cargoguard users passwd {username}' changes the password")
    typed_role: Role = role_name
    user = User(username=username, role=typed_role, offices=office_codes,
                password_hash=hash_password(_checked_password(password)), changed_at=wall_ms())
    publish_control(settings, "users", username, user.record())
    return user


def change_password(settings: Settings, username: str, password: str) -> User:
    """Give a user a new password; their open sessions end."""
    user = current_users(settings).get(username)
    if user is None:
        raise UserError(f"no user {username!r}")
    changed = User(username=user.username, role=user.role, offices=user.offices,
                   password_hash=hash_password(_checked_password(password)), changed_at=wall_ms())
    publish_control(settings, "users", username, changed.record())
    return changed


def remove_user(settings: Settings, username: str) -> None:
    """Remove a user (a tombstone); their open sessions end."""
    if username not in current_users(settings):
        raise UserError(f"no user {username!r}")
    publish_control(settings, "users", username, None)
