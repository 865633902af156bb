"""Admin accounts, logins with lockout, and sessions that end when idle.

Passwords are kept only as argon2id hashes. A login that fails is counted against the username
typed and against the address it came from, in the database, so every server process sees the
same count; past the allowance the name (or address) is locked out for a while, even with the
right password. Whether a username exists never shows: an unknown name costs the same hash check
and is locked out the same way.

Sessions live in the database, keyed by a SHA-256 of the cookie's random token, so logging out or
an idle timeout really ends them and a copy of the database opens no session.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sync.server.db import reader
from sync.server.models import Admin, AdminSession, LoginLockout
from sync.server.settings import Settings

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
ADDRESS_FACTOR = 4  # an address may fail this many times more than one username
TOUCH_EVERY = timedelta(seconds=30)

_hasher = PasswordHasher()  # argon2id, with the library's RFC 9106 "low memory" parameters


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so that costs the same time as a real one."""
    return _hasher.hash("no such admin")


class AccountError(ValueError):
    """An account that cannot be created or changed as asked."""


@dataclass(frozen=True, slots=True)
class CurrentAdmin:
    id: int
    username: str
    csrf_token: str
    session_id: str


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """Either `token` (logged in) or `error`, the words to show; never says which part was wrong."""

    token: str | None = None
    error: str | None = None


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands times back without their zone; every time the server stores is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def normal_username(name: str) -> str:
    return name.strip().lower()


def check_username(name: str) -> str:
    username = normal_username(name)
    if not USERNAME.fullmatch(username):
        raise AccountError(
            f"username {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return username


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is too long: at most {MAX_PASSWORD} characters")


def add_admin(connection: Connection, username: str, password: str, now: datetime, *, reset: bool) -> str:
    """Create the account (or, with `reset`, give an existing one a new password); returns what was done.

    A reset also ends the account's sessions and lifts its lockout: it is how an admin who forgot
    the password, or was locked out, gets back in.
    """
    username = check_username(username)
    check_password(password)
    hashed = _hasher.hash(password)
    existing = connection.execute(select(Admin.id).where(Admin.username == username)).scalar_one_or_none()
    if existing is None:
        if reset:
            raise AccountError(f"no admin named {username!r} (leave out --reset-password to create one)")
        connection.execute(insert(Admin).values(username=username, password_hash=hashed, created_at=now))
        return f"admin {username} created"
    if not reset:
        raise AccountError(f"admin {username} already exists (use --reset-password to set a new password)")
    connection.execute(update(Admin).where(Admin.id == existing).values(password_hash=hashed))
    connection.execute(delete(AdminSession).where(AdminSession.admin_id == existing))
    connection.execute(delete(LoginLockout).where(LoginLockout.key == _user_key(username)))
    return f"admin {username}: new password set; their sessions were ended"


def admin_names(connection: Connection) -> list[str]:
    return list(connection.execute(select(Admin.username).order_by(Admin.username)).scalars())


def _user_key(username: str) -> str:
    return "user:" + normal_username(username)[:150]


def _address_key(address: str) -> str:
    return "addr:" + address[:150]


def _wait_words(until: datetime, now: datetime) -> str:
    minutes = max(1, round((until - now).total_seconds() / 60))
    return f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


def login(
    engine: Engine, username: str, password: str, address: str, settings: Settings, now: datetime
) -> LoginOutcome:
    """Check a login; on success a new session exists and its token is returned (for the cookie)."""
    name = normal_username(username)
    keys = {
        _user_key(name): settings.admin_login_failures,
        _address_key(address): settings.admin_login_failures * ADDRESS_FACTOR,
    }
    with reader(engine).connect() as connection:
        locks = connection.execute(
            select(LoginLockout.locked_until).where(LoginLockout.key.in_(list(keys)))
        ).scalars()
        until = max((as_utc(t) for t in locks if t is not None and as_utc(t) > now), default=None)
        row = connection.execute(select(Admin.id, Admin.password_hash).where(Admin.username == name)).first()
    if until is not None:
        return LoginOutcome(error=_wait_words(until, now))
    good = (
        _verify(row.password_hash if row else _dummy_hash(), password)
        and row is not None
        and len(password) <= MAX_PASSWORD
    )
    with engine.begin() as connection:
        if not good:
            locked = [
                _count_failure(connection, key, allowed, settings, now) for key, allowed in keys.items()
            ]
            until = max((t for t in locked if t is not None), default=None)
            if until is not None:
                return LoginOutcome(error=_wait_words(until, now))
            return LoginOutcome(error="Wrong username or password.")
        assert row is not None
        connection.execute(delete(LoginLockout).where(LoginLockout.key == _user_key(name)))
        values: dict[str, object] = {"last_login_at": now}
        if _hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher.hash(password)
        connection.execute(update(Admin).where(Admin.id == row.id).values(**values))
        return LoginOutcome(token=_new_session(connection, row.id, now))


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _count_failure(
    connection: Connection, key: str, allowed: int, settings: Settings, now: datetime
) -> datetime | None:
    """Count one failure for `key`; returns the end of its lockout when this failure starts one."""
    window = timedelta(seconds=settings.admin_lockout_s)
    fresh = {"key": key, "failures": 0, "first_failure_at": now, "locked_until": None}
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(
        dialect.insert(LoginLockout).values(**fresh).on_conflict_do_nothing(index_elements=["key"])
    )
    row = connection.execute(select(LoginLockout).where(LoginLockout.key == key).with_for_update()).one()
    failures, first = row.failures, as_utc(row.first_failure_at)
    if (
        first is None
        or now - first > window
        or (row.locked_until is not None and as_utc(row.locked_until) <= now)
    ):
        failures, first = 0, now
    failures += 1
    until = now + window if failures >= allowed else None
    connection.execute(
        update(LoginLockout)
        .where(LoginLockout.key == key)
        .values(failures=failures, first_failure_at=first, locked_until=until)
    )
    return until


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _new_session(connection: Connection, admin_id: int, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    connection.execute(
        insert(AdminSession).values(
            id=session_key(token),
            admin_id=admin_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    return token


def current_admin(
    engine: Engine, token: str | None, settings: Settings, now: datetime
) -> CurrentAdmin | None:
    """The admin a session cookie belongs to, or None; an idle or too old session is ended here."""
    if not token or len(token) > 200:
        return None
    key = session_key(token)
    with reader(engine).connect() as connection:
        row = connection.execute(
            select(
                AdminSession.admin_id,
                AdminSession.csrf_token,
                AdminSession.created_at,
                AdminSession.last_seen_at,
                Admin.username,
            )
            .join(Admin, Admin.id == AdminSession.admin_id)
            .where(AdminSession.id == key)
        ).first()
    if row is None:
        return None
    idle = now - as_utc(row.last_seen_at)  # type: ignore[operator]
    age = now - as_utc(row.created_at)  # type: ignore[operator]
    if idle > timedelta(seconds=settings.admin_idle_timeout_s) or age > timedelta(
        seconds=settings.admin_session_max_s
    ):
        end_session(engine, token)
        return None
    if idle > min(TOUCH_EVERY, timedelta(seconds=settings.admin_idle_timeout_s / 10)):
        with engine.begin() as connection:
            connection.execute(update(AdminSession).where(AdminSession.id == key).values(last_seen_at=now))
    return CurrentAdmin(row.admin_id, row.username, row.csrf_token, key)


def end_session(engine: Engine, token: str) -> None:
    with engine.begin() as connection:
        connection.execute(delete(AdminSession).where(AdminSession.id == session_key(token)))


def csrf_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
